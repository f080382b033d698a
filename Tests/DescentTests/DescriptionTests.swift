import Testing
@testable import Descent
import KernelInterface

/// The algorithm descriptions are consistent with themselves: what every layer derives
/// from them (defaults, checks, state allocation, momentum cycling) can only refer to
/// the algorithm's own options. Their agreement with torch is tested against torch
/// (Tests/python, Tests/parity).
@Suite struct DescriptionTests {
    @Test func eachAlgorithmHasItsOwnDescription() {
        for algorithm in Algorithm.allCases {
            #expect(algorithm.description.algorithm == algorithm)
        }
        let names = Algorithm.allCases.map(\.name)
        #expect(Set(names).count == names.count)
    }

    @Test func everythingReferredToIsAnOptionOfTheAlgorithm() {
        for algorithm in Algorithm.allCases {
            let description = algorithm.description
            let options = Set(description.options)
            #expect(options.count == description.options.count, "\(algorithm.name) lists an option twice")
            #expect(options.contains(.lr))
            for check in description.checks {
                switch check {
                case let .nonNegative(option, _), let .positive(option, _), let .notNaN(option, _), let .unitInterval(option, _),
                     let .beta(option, _), let .count(option, _), let .nonNegativeOrNone(option, _),
                     let .nonPositive(option, _), let .atLeast(option, _, _), let .below(option, _, _):
                    #expect(options.contains(option), "\(algorithm.name) checks \(option.name)")
                case let .etas(minus, plus):
                    #expect(options.isSuperset(of: [minus, plus]))
                case .nesterovNeedsMomentumWithoutDampening:
                    #expect(options.isSuperset(of: [.nesterov, .momentum, .dampening]))
                }
            }
            for slot in description.state {
                switch slot.needed {
                case .always, .whenFactored, .whenNotFactored: break
                case let .whenNonZero(option), let .whenPositive(option), let .whenSet(option):
                    #expect(options.contains(option), "\(algorithm.name)'s \(slot.name) depends on \(option.name)")
                }
                switch slot.initialValue {
                case .zero, .constant, .parameter: break
                case let .option(option), let .groupOption(option): #expect(options.contains(option))
                }
            }
            if let momentum = description.cycledMomentum { #expect(options.contains(momentum)) }
            if description.sparseGradients.rowRule != nil {  // row spans shift every slot (no master: float32 rows)
                #expect(description.state.allSatisfy { $0.shape == .elementwise || $0.shape == .master }, "\(algorithm.name)")
            }
            #expect(description.state.count <= Span.maxSlots, "a span carries at most \(Span.maxSlots) slots")
        }
    }

    @Test func defaultsHoldOnlyTheAlgorithmsOptions() throws {
        for algorithm in Algorithm.allCases {
            let description = algorithm.description
            let defaults = description.defaults
            try defaults.validate(for: algorithm)
            for option in Option.allCases where !description.options.contains(option) {
                #expect(defaults[option] == 0, "\(algorithm.name) has a default for \(option.name)")
            }
            for parameter in description.hyperparameters {
                #expect(defaults[parameter.option].bitPattern == parameter.defaultValue.bitPattern)
                #expect(!parameter.option.isBoolean || [0, 1].contains(parameter.defaultValue))
            }
        }
    }

    @Test func slotsFollowTheirConditions() throws {
        var hp = Hyperparameters.defaults(for: .rmsprop)
        #expect(Algorithm.rmsprop.description.slotsNeeded(hp, factored: false) == 0b001)
        hp[.momentum] = 0.5
        hp[.centered] = 1
        #expect(Algorithm.rmsprop.description.slotsNeeded(hp, factored: false) == 0b111)
        var sgd = Hyperparameters.defaults(for: .sgd)
        #expect(Algorithm.sgd.description.slotsNeeded(sgd, factored: false) == 0)
        sgd[.momentum] = -0.0
        #expect(Algorithm.sgd.description.slotsNeeded(sgd, factored: false) == 0)
        sgd[.momentum] = 0.9
        #expect(Algorithm.sgd.description.slotsNeeded(sgd, factored: false) == 1)
        var adam = Hyperparameters.defaults(for: .adamW)
        #expect(Algorithm.adamW.description.slotsNeeded(adam, factored: false) == 0b011)
        adam[.amsgrad] = 1
        #expect(Algorithm.adamW.description.slotsNeeded(adam, factored: false) == 0b111)
        var adagrad = Hyperparameters.defaults(for: .adagrad)
        adagrad[.initialAccumulatorValue] = 0.25
        let adagradGroup = try adagrad.setting(.initialAccumulatorValue, to: 0.5)
        #expect(Algorithm.adagrad.description.initialValue(ofSlot: 0, defaults: adagrad, group: adagradGroup) == 0.25)
        var rprop = Hyperparameters.defaults(for: .rprop)
        let rpropGroup = try rprop.setting(.lr, to: 0.5)
        rprop[.lr] = 0.25
        #expect(Algorithm.rprop.description.initialValue(ofSlot: 1, defaults: rprop, group: rpropGroup) == 0.5)
        let adafactor = Hyperparameters.defaults(for: .adafactor)
        #expect(Algorithm.adafactor.description.slotsNeeded(adafactor, factored: true) == 0b011)
        #expect(Algorithm.adafactor.description.slotsNeeded(adafactor, factored: false) == 0b100)
    }
}
