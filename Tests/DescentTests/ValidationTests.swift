import Testing
@testable import Descent

/// Hyperparameter validation: torch's order and messages, plus NaN everywhere.
@Suite struct ValidationTests {
    func message(_ algorithm: Algorithm, _ change: (inout Hyperparameters) -> Void) -> String? {
        var hp = Hyperparameters.defaults(for: algorithm)
        change(&hp)
        do {
            _ = try Optimizer(algorithm: algorithm, defaults: hp)
            return nil
        } catch {
            #expect(error.kind == .invalidHyperparameter)
            return error.message
        }
    }

    @Test func defaultsAreValid() throws {
        for algorithm in Algorithm.allCases {
            try Hyperparameters.defaults(for: algorithm).validate(for: algorithm)
        }
    }

    @Test func torchMessages() {
        #expect(message(.adam) { $0[.lr] = -1 } == "Invalid learning rate: -1.0")
        #expect(message(.adam) { $0[.eps] = -1e-8 } == "Invalid epsilon value: -1e-08")
        #expect(message(.adam) { $0[.beta1] = 1.5 } == "Invalid beta parameter at index 0: 1.5")
        #expect(message(.adamW) { $0[.beta2] = 1 } == "Invalid beta parameter at index 1: 1.0")
        #expect(message(.adamW) { $0[.weightDecay] = -0.01 } == "Invalid weight_decay value: -0.01")
        #expect(message(.sgd) { $0[.momentum] = -0.9 } == "Invalid momentum value: -0.9")
        #expect(message(.sgd) { $0[.nesterov] = 1 } == "Nesterov momentum requires a momentum and zero dampening")
        #expect(message(.sgd) { $0[.nesterov] = 1; $0[.momentum] = 0.9; $0[.dampening] = 0.1 }
                == "Nesterov momentum requires a momentum and zero dampening")
        #expect(message(.rmsprop) { $0[.alpha] = -0.5 } == "Invalid alpha value: -0.5")
        #expect(message(.adagrad) { $0[.lrDecay] = -1 } == "Invalid lr_decay value: -1.0")
        #expect(message(.adagrad) { $0[.initialAccumulatorValue] = -2 } == "Invalid initial_accumulator_value value: -2.0")
        #expect(message(.adadelta) { $0[.rho] = 1.5 } == "Invalid rho value: 1.5")
        #expect(message(.adadelta) { $0[.rho] = 1 } == nil)
        #expect(message(.rprop) { $0[.etaPlus] = 1 } == "Invalid eta values: 0.5, 1.0")
        #expect(message(.rprop) { $0[.etaMinus] = 0 } == "Invalid eta values: 0.0, 1.2")
    }

    @Test func torchOrderWhenSeveralAreWrong() {
        // torch checks lr, then eps, then the betas, then weight_decay.
        #expect(message(.adam) { $0[.weightDecay] = -1; $0[.eps] = -1 } == "Invalid epsilon value: -1.0")
        #expect(message(.adam) { $0[.weightDecay] = -1; $0[.lr] = -1 } == "Invalid learning rate: -1.0")
    }

    @Test func nanIsRejectedEverywhere() {
        for algorithm in Algorithm.allCases {
            // NaN is torch's None in an optional real (Adafactor's eps[0]).
            for option in algorithm.options where !option.isBoolean && option.kind != .choice && option.kind != .optionalReal {
                let text = message(algorithm) { hp in hp = try! hp.setting(option, to: .nan) }
                // "…: nan", or Rprop's "Invalid eta values: nan, 1.2" (torch's message names both).
                #expect(text?.contains(": nan") == true || text?.contains(", nan") == true,
                        "\(algorithm.name).\(option.name): \(text ?? "accepted")")
            }
        }
    }

    @Test func fieldsAnAlgorithmDoesNotUseAreIgnored() {
        #expect(message(.adam) { $0[.momentum] = -1; $0[.alpha] = .nan } == nil)
    }

    @Test func pythonReprMatchesPython() {
        // Python: repr(-1.0), repr(1e-08), repr(0.0001), repr(1e-05), repr(1e16), repr(float('inf'))
        #expect(pythonRepr(-1) == "-1.0")
        #expect(pythonRepr(1e-8) == "1e-08")
        #expect(pythonRepr(0.0001) == "0.0001")
        #expect(pythonRepr(1e-5) == "1e-05")
        #expect(pythonRepr(1e16) == "1e+16")
        #expect(pythonRepr(-.infinity) == "-inf")
    }
}
