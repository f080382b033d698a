// The header compiles as C++ (-Wall -Wextra -Wpedantic -Werror) and links: a C++ program
// written from include/descent.h alone.
#include <descent.h>

#include <cstdio>
#include <cstring>

int main() {
    descent_params params;
    if (descent_default_params(DESCENT_ADAMW, &params) != DESCENT_OK) return 1;
    descent_optimizer *opt = nullptr;
    if (descent_create(DESCENT_ADAMW, &params, &opt) != DESCENT_OK) return 1;
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1};
    size_t group = 0;
    bool ok = descent_add_group(opt, nullptr, &group) == DESCENT_OK
              && descent_add_param(opt, group, p, g, 4, nullptr) == DESCENT_OK
              && descent_step(opt) == DESCENT_OK && p[0] < 1.0f;
    descent_free(opt);
    std::printf("C++ header check: %s\n", ok ? "ok" : descent_last_error(opt));
    return ok ? 0 : 1;
}
