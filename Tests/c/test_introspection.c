/*
 * Introspection and (option id, value) creation, written from include/descent.h alone.
 * Every algorithm is found through descent_algorithm_count/_at, not listed here:
 *
 * 1. The enumeration: ids in order, names, 0 past the end.
 * 2. Each algorithm's options: names as descent_option_name's, defaults as a new
 *    optimizer's groups hold them (both creation paths), only its own ids accepted.
 * 3. descent_create_with / descent_add_group_with agree with descent_group_set for
 *    every option of every algorithm: the same status, the same group afterwards.
 * 4. State slots: their names are the ones descent_param_state takes.
 * 5. Bad input: a status and a message naming what is wrong, nothing created.
 */
#include <descent.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"

enum { MAX_OPTIONS = 64 };

static size_t options_of(descent_algorithm algorithm, descent_option_info *out) {
    size_t count = 0;
    MUST(descent_algorithm_options(algorithm, out, MAX_OPTIONS, &count));
    EXPECT(count <= MAX_OPTIONS, "%zu options", count);
    return count;
}

static void test_enumeration(void) {
    size_t count = descent_algorithm_count();
    EXPECT(count >= 5, "%zu algorithms", count);
    for (size_t i = 0; i < count; i++) {
        descent_algorithm algorithm = descent_algorithm_at(i);
        EXPECT(algorithm != 0 && descent_algorithm_name(algorithm) != NULL, "algorithm %zu", i);
        if (i > 0) EXPECT(algorithm > descent_algorithm_at(i - 1), "ids out of order at %zu", i);
    }
    EXPECT(descent_algorithm_at(count) == 0 && descent_algorithm_at(SIZE_MAX) == 0, "past the end");
    EXPECT(descent_algorithm_traits((descent_algorithm)0) == 0, "traits of no algorithm");
}

/* A group's value of `option` in a new optimizer of `algorithm`: made by
 * descent_create (`with` false) or descent_create_with, each with no overrides. */
static double fresh_value(descent_algorithm algorithm, descent_option option, int with) {
    descent_optimizer *opt = NULL;
    if (with) MUST(descent_create_with(algorithm, NULL, NULL, 0, &opt));
    else MUST(descent_create(algorithm, NULL, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    double value = NAN;
    MUST(descent_group_get(opt, 0, option, &value));
    MUST(descent_free(opt));
    return value;
}

/* Equal values, NaN equal to NaN (torch's None of an optional real). */
static int same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static void test_options(void) {
    for (size_t i = 0; i < descent_algorithm_count(); i++) {
        descent_algorithm algorithm = descent_algorithm_at(i);
        const char *name = descent_algorithm_name(algorithm);
        descent_option_info info[MAX_OPTIONS];
        size_t count = options_of(algorithm, info), counted = 0;
        MUST(descent_algorithm_options(algorithm, NULL, 0, &counted));
        EXPECT(counted == count && count > 0, "%s: %zu, then %zu options", name, count, counted);
        EXPECT(info[0].option == DESCENT_OPTION_LR, "%s: lr comes first, as in torch", name);
        for (size_t k = 0; k < count; k++) {
            const char *option = info[k].name;
            EXPECT(option && !strcmp(option, descent_option_name(info[k].option)), "%s: option %zu", name, k);
            /* torch's None (-1) becomes what torch's constructor makes of it. */
            int none = descent_option_kind_of(info[k].option) == DESCENT_KIND_OPTIONAL_INTEGER &&
                       info[k].default_value == -1;
            double made = fresh_value(algorithm, info[k].option, 0);
            EXPECT(none ? made >= 0 && made == floor(made) : same(made, info[k].default_value),
                   "%s: %s's default %g is not what a new group holds (%g)", name, option, info[k].default_value, made);
            EXPECT(same(fresh_value(algorithm, info[k].option, 1), made), "%s: %s differs by creation call", name, option);
            EXPECT(!info[k].is_flag || info[k].default_value == 0 || info[k].default_value == 1, "%s: %s", name,
                   option);
        }
        /* An option that is not the algorithm's is refused by group_get. */
        descent_optimizer *opt;
        MUST(descent_create(algorithm, NULL, &opt));
        MUST(descent_add_group(opt, NULL, NULL));
        for (int id = 1; descent_option_name((descent_option)id); id++) {
            int listed = 0;
            for (size_t k = 0; k < count; k++) listed |= info[k].option == (descent_option)id;
            double value;
            descent_status status = descent_group_get(opt, 0, (descent_option)id, &value);
            EXPECT(listed ? status == DESCENT_OK : status == DESCENT_ERROR_UNKNOWN_OPTION, "%s: option %d: %s", name,
                   id, descent_status_name(status));
        }
        MUST(descent_free(opt));

        /* A capacity smaller than the count writes that many and reports them all. */
        descent_option_info one[2];
        memset(one, 0xAB, sizeof one);
        MUST(descent_algorithm_options(algorithm, one, 1, &counted));
        EXPECT(counted == count && one[0].option == info[0].option && ((unsigned char *)&one[1])[0] == 0xAB,
               "%s: capacity 1", name);
    }
}

/* The value option `k` gets in the agreement test: another valid value. */
static double other_value(const descent_option_info *info) {
    return info->is_flag ? 1.0 - info->default_value : info->default_value * 0.5 + 0.01;
}

static void test_pairs_agree_with_group_set(void) {
    for (size_t i = 0; i < descent_algorithm_count(); i++) {
        descent_algorithm algorithm = descent_algorithm_at(i);
        const char *name = descent_algorithm_name(algorithm);
        descent_option_info info[MAX_OPTIONS];
        size_t count = options_of(algorithm, info);
        for (size_t k = 0; k < count; k++) {
            descent_option option = info[k].option;
            double value = other_value(&info[k]);

            descent_optimizer *by_set, *by_pairs = NULL, *by_group = NULL;
            MUST(descent_create(algorithm, NULL, &by_set));
            MUST(descent_add_group(by_set, NULL, NULL));
            descent_status set = descent_group_set(by_set, 0, option, value);
            descent_status created = descent_create_with(algorithm, &option, &value, 1, &by_pairs);
            EXPECT(set == created, "%s, %s = %g: group_set %s, create_with %s", name, info[k].name, value,
                   descent_status_name(set), descent_status_name(created));
            EXPECT((created == DESCENT_OK) == (by_pairs != NULL), "%s: handle and status disagree", name);
            MUST(descent_create(algorithm, NULL, &by_group));
            descent_status grouped = descent_add_group_with(by_group, &option, &value, 1, NULL);
            EXPECT(set == grouped, "%s, %s = %g: group_set %s, add_group_with %s", name, info[k].name, value,
                   descent_status_name(set), descent_status_name(grouped));
            if (created == DESCENT_OK) {
                MUST(descent_add_group(by_pairs, NULL, NULL));
                for (size_t j = 0; j < count; j++) {
                    double a = 0, b = 0, c = 0;
                    MUST(descent_group_get(by_set, 0, info[j].option, &a));
                    MUST(descent_group_get(by_pairs, 0, info[j].option, &b));
                    MUST(descent_group_get(by_group, 0, info[j].option, &c));
                    EXPECT(same(a, b) && same(a, c), "%s, %s set: %s is %g, %g, %g", name, info[k].name, info[j].name,
                           a, b, c);
                }
            }
            MUST(descent_free(by_set));
            MUST(descent_free(by_pairs));
            MUST(descent_free(by_group));
        }
    }
}

/* SGD's nesterov needs momentum: one set at a time cannot turn both on, one call can. */
static void test_set_together(void) {
    descent_optimizer *opt;
    MUST(descent_create(DESCENT_SGD, NULL, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    EXPECT(descent_group_set(opt, 0, DESCENT_OPTION_NESTEROV, 1) == DESCENT_ERROR_INVALID_HYPERPARAMETER, "alone");
    descent_option both[2] = {DESCENT_OPTION_NESTEROV, DESCENT_OPTION_MOMENTUM};
    double values[2] = {1, 0.9}, nesterov = 0;
    MUST(descent_group_set_with(opt, 0, both, values, 2));
    MUST(descent_group_get(opt, 0, DESCENT_OPTION_NESTEROV, &nesterov));
    EXPECT(nesterov == 1, "nesterov %g", nesterov);
    MUST(descent_free(opt));
}

static void test_state_names(void) {
    float param[4] = {0}, grad[4] = {0};
    for (size_t i = 0; i < descent_algorithm_count(); i++) {
        descent_algorithm algorithm = descent_algorithm_at(i);
        descent_state_info slots[8];
        size_t count = 0;
        MUST(descent_algorithm_state(algorithm, slots, 8, &count));
        /* LBFGS's state is over all parameters together, none per parameter. */
        bool global = descent_algorithm_traits(algorithm) & DESCENT_TRAIT_NEEDS_CLOSURE;
        EXPECT((count >= 1 || global) && count <= 8, "%s: %zu state names", descent_algorithm_name(algorithm), count);
        descent_optimizer *opt;
        MUST(descent_create(algorithm, NULL, &opt));
        MUST(descent_add_group(opt, NULL, NULL));
        MUST(descent_add_param(opt, 0, param, grad, 4, NULL));
        for (size_t k = 0; k < count; k++) {
            float *state = NULL;
            EXPECT(descent_param_state(opt, 0, slots[k].name, &state) == DESCENT_OK, "%s: %s: %s",
                   descent_algorithm_name(algorithm), slots[k].name, descent_last_error(opt));
            EXPECT(slots[k].shape >= DESCENT_STATE_ELEMENTWISE && slots[k].shape <= DESCENT_STATE_MASTER, "shape");
            EXPECT(slots[k].format == DESCENT_STATE_FLOAT32, "format");
        }
        float *state = NULL;
        EXPECT(descent_param_state(opt, 0, "not_a_state", &state) == DESCENT_ERROR_UNKNOWN_OPTION, "unknown name");
        MUST(descent_free(opt));
    }
}

/* A call without a handle that must fail with `status` and a message holding `piece`. */
#define EXPECT_FAILS(call, status, piece)                                                          \
    do {                                                                                           \
        descent_status got_ = (call);                                                              \
        EXPECT(got_ == (status), "%s: %s", #call, descent_status_name(got_));                     \
        EXPECT(strstr(descent_last_error(NULL), piece) != NULL, "%s: '%s' lacks '%s'", #call,     \
               descent_last_error(NULL), piece);                                                   \
    } while (0)

static void test_bad_input(void) {
    descent_optimizer *opt = (descent_optimizer *)(uintptr_t)0x10;
    descent_option lr = DESCENT_OPTION_LR, momentum = DESCENT_OPTION_MOMENTUM, bad = (descent_option)99;
    descent_option twice[2] = {DESCENT_OPTION_LR, DESCENT_OPTION_LR}, amsgrad = DESCENT_OPTION_AMSGRAD;
    double one = 1.0, half = 0.5, nan_value = NAN, values[2] = {0.1, 0.2};
    size_t count = 0;
    EXPECT_FAILS(descent_create_with(DESCENT_ADAM, &bad, &one, 1, &opt), DESCENT_ERROR_UNKNOWN_OPTION,
                 "unknown option id 99");
    EXPECT(opt == NULL, "a refused creation left a handle");
    EXPECT_FAILS(descent_create_with(DESCENT_ADAM, &momentum, &one, 1, &opt), DESCENT_ERROR_UNKNOWN_OPTION,
                 "Adam has no hyperparameter 'momentum'");
    EXPECT_FAILS(descent_create_with(DESCENT_ADAM, twice, values, 2, &opt), DESCENT_ERROR_INVALID_ARGUMENT,
                 "'lr' is given twice");
    EXPECT_FAILS(descent_create_with(DESCENT_ADAM, &amsgrad, &half, 1, &opt), DESCENT_ERROR_INVALID_HYPERPARAMETER,
                 "Invalid amsgrad value: 0.5");
    EXPECT_FAILS(descent_create_with(DESCENT_ADAM, &lr, &nan_value, 1, &opt), DESCENT_ERROR_INVALID_HYPERPARAMETER,
                 "Invalid learning rate: nan");
    EXPECT_FAILS(descent_create_with(DESCENT_ADAM, NULL, &one, 1, &opt), DESCENT_ERROR_NULL_POINTER,
                 "options is NULL");
    EXPECT_FAILS(descent_create_with(DESCENT_ADAM, &lr, NULL, 1, &opt), DESCENT_ERROR_NULL_POINTER, "values is NULL");
    EXPECT_FAILS(descent_create_with(DESCENT_ADAM, &lr, &one, SIZE_MAX, &opt), DESCENT_ERROR_INVALID_ARGUMENT,
                 "count");
    EXPECT_FAILS(descent_create_with((descent_algorithm)77, NULL, NULL, 0, &opt), DESCENT_ERROR_UNKNOWN_ALGORITHM,
                 "unknown algorithm id 77");
    EXPECT_FAILS(descent_create_with(DESCENT_ADAM, NULL, NULL, 0, NULL), DESCENT_ERROR_NULL_POINTER, "out is NULL");
    EXPECT(opt == NULL, "a refused creation left a handle");
    EXPECT_FAILS(descent_algorithm_options(DESCENT_SGD, NULL, 0, NULL), DESCENT_ERROR_NULL_POINTER, "count is NULL");
    EXPECT_FAILS(descent_algorithm_options(DESCENT_SGD, NULL, 3, &count), DESCENT_ERROR_NULL_POINTER, "out is NULL");
    EXPECT_FAILS(descent_algorithm_options((descent_algorithm)0, NULL, 0, &count), DESCENT_ERROR_UNKNOWN_ALGORITHM,
                 "unknown algorithm id 0");
    EXPECT_FAILS(descent_algorithm_state(DESCENT_SGD, NULL, SIZE_MAX, &count), DESCENT_ERROR_INVALID_ARGUMENT,
                 "capacity");

    /* add_group_with: over the optimizer's defaults; a refused group adds nothing. */
    double lr_value = 0.5, wd = 0.1;
    descent_option wd_id = DESCENT_OPTION_WEIGHT_DECAY;
    MUST(descent_create_with(DESCENT_ADAMW, &lr, &lr_value, 1, &opt));
    size_t index = 9, groups = 0;
    MUST(descent_add_group_with(opt, &wd_id, &wd, 1, &index));
    double got_lr = 0, got_wd = 0;
    MUST(descent_group_get(opt, 0, DESCENT_OPTION_LR, &got_lr));
    MUST(descent_group_get(opt, 0, DESCENT_OPTION_WEIGHT_DECAY, &got_wd));
    EXPECT(index == 0 && got_lr == 0.5 && got_wd == 0.1, "group %zu: lr %g, weight_decay %g", index, got_lr, got_wd);
    /* set_with: validated as a whole, all or nothing. */
    descent_option amsgrad_and_lr[2] = {DESCENT_OPTION_AMSGRAD, DESCENT_OPTION_LR};
    double good[2] = {1.0, 0.25}, bad_lr[2] = {0.0, -1.0};
    MUST(descent_group_set_with(opt, 0, amsgrad_and_lr, good, 2));
    EXPECT(descent_group_set_with(opt, 0, amsgrad_and_lr, bad_lr, 2) == DESCENT_ERROR_INVALID_HYPERPARAMETER, "lr");
    double got_amsgrad = 0;
    MUST(descent_group_get(opt, 0, DESCENT_OPTION_AMSGRAD, &got_amsgrad));
    MUST(descent_group_get(opt, 0, DESCENT_OPTION_LR, &got_lr));
    EXPECT(got_amsgrad == 1 && got_lr == 0.25, "a refused set changed amsgrad %g, lr %g", got_amsgrad, got_lr);
    EXPECT(descent_group_set_with(opt, 3, amsgrad_and_lr, good, 2) == DESCENT_ERROR_OUT_OF_RANGE, "group 3");
    EXPECT(descent_add_group_with(opt, &momentum, &one, 1, NULL) == DESCENT_ERROR_UNKNOWN_OPTION, "momentum");
    EXPECT(strstr(descent_last_error(opt), "AdamW has no hyperparameter 'momentum'"), "%s", descent_last_error(opt));
    MUST(descent_group_count(opt, &groups));
    EXPECT(groups == 1, "%zu groups after a refused one", groups);
    MUST(descent_free(opt));
}

/* Each option's kind, and a choice's values, as torch writes them. */
static void test_option_kinds(void) {
    EXPECT(descent_option_kind_of(DESCENT_OPTION_LR) == DESCENT_KIND_REAL, "lr");
    EXPECT(descent_option_kind_of(DESCENT_OPTION_MAXIMIZE) == DESCENT_KIND_FLAG, "maximize");
    EXPECT(descent_option_kind_of(DESCENT_OPTION_HISTORY_SIZE) == DESCENT_KIND_INTEGER, "history_size");
    EXPECT(descent_option_kind_of(DESCENT_OPTION_MAX_EVAL) == DESCENT_KIND_OPTIONAL_INTEGER, "max_eval");
    EXPECT(descent_option_kind_of(DESCENT_OPTION_LINE_SEARCH_FN) == DESCENT_KIND_CHOICE, "line_search_fn");
    EXPECT(descent_option_kind_of((descent_option)99) == DESCENT_KIND_REAL, "unknown id");
    const char *wolfe = descent_option_choice(DESCENT_OPTION_LINE_SEARCH_FN, 1);
    EXPECT(wolfe && strcmp(wolfe, "strong_wolfe") == 0, "choice 1: %s", wolfe ? wolfe : "NULL");
    EXPECT(descent_option_choice(DESCENT_OPTION_LINE_SEARCH_FN, 0) == NULL, "choice 0 is None");
    EXPECT(descent_option_choice(DESCENT_OPTION_LINE_SEARCH_FN, 2) == NULL, "past the choices");
    EXPECT(descent_option_choice(DESCENT_OPTION_LR, 1) == NULL, "not a choice");
    /* A choice takes the index of a value, nothing else. */
    descent_optimizer *opt = NULL;
    descent_option option = DESCENT_OPTION_LINE_SEARCH_FN;
    double two = 2;
    EXPECT(descent_create_with(DESCENT_LBFGS, &option, &two, 1, &opt) == DESCENT_ERROR_INVALID_HYPERPARAMETER,
           "line_search_fn 2");
    EXPECT(strstr(descent_last_error(NULL), "None, \"strong_wolfe\"") != NULL, "%s", descent_last_error(NULL));
}

int main(void) {
    test_enumeration();
    test_option_kinds();
    test_options();
    test_pairs_agree_with_group_set();
    test_set_together();
    test_state_names();
    test_bad_input();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
