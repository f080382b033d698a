/*
 * Replays fuzz inputs through a harness's LLVMFuzzerTestOneInput without libFuzzer, so
 * that the corpus (seeds and every crashing input found so far) runs in the ordinary
 * tests, with any compiler, plain and under sanitizers. Arguments: files or
 * directories (each file in a directory is one input).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replayed = 0;

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
    size_t got = fread(data, 1, (size_t)size, f);
    fclose(f);
    LLVMFuzzerTestOneInput(data, got);
    free(data);
    replayed++;
    return 0;
}

int main(int argc, char **argv) {
    int errors = 0;
    for (int i = 1; i < argc; i++) {
        struct stat info;
        if (stat(argv[i], &info) != 0) {
            perror(argv[i]);
            errors++;
            continue;
        }
        if (!S_ISDIR(info.st_mode)) {
            errors += replay_file(argv[i]);
            continue;
        }
        DIR *dir = opendir(argv[i]);
        for (struct dirent *e; dir && (e = readdir(dir));) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            errors += replay_file(path);
        }
        if (dir) closedir(dir);
    }
    printf("replayed %d inputs\n", replayed);
    return errors != 0 || replayed == 0;
}
