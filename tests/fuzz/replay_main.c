/*
 * replay_main.c: runs a libFuzzer target over its committed corpus without libFuzzer, so
 * `make check` (gcc, ASan+UBSan) replays every input the fuzzers found interesting.
 * REPLAY_CORPUS names the corpus folder; an empty or missing folder is a failure, so a
 * fuzzer cannot silently check nothing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : REPLAY_CORPUS;
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d) {
		perror(dir);
		return 1;
	}
	while ((e = readdir(d))) {
		char path[4096];
		FILE *f;
		uint8_t *buf;
		long len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!(f = fopen(path, "rb")))
			continue;
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		buf = malloc(len ? len : 1);
		if (buf && fread(buf, 1, len, f) == (size_t)len) {
			LLVMFuzzerTestOneInput(buf, len);
			n++;
		}
		free(buf);
		fclose(f);
	}
	closedir(d);
	printf("replayed %d inputs from %s\n", n, dir);
	return n > 0 ? 0 : 1;
}
