/* Times a model compiled to C by TL2cgen, called from C: no Python, no
 * DMatrix, the generated `predict` on rows already in TL2cgen's layout.
 * This is the fastest a compiled model of the same trees gets on this
 * machine; bench/import/compare.py builds and runs it.
 *
 *   tl2cgen_native ROWS.csv
 *
 * ROWS.csv: a header line, then rows of floats (`nan` for a missing
 * value), as compare.py writes them. Prints one JSON object:
 * {"one_row_ns": median ns of one call on the first row,
 *  "batch_rows_per_s": rows per second over all rows, one thread,
 *  "first": the prediction for the first row}.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "header.h"

/* The generated code's leaf type: `float` for XGBoost models, `double`
 * for LightGBM's (compare.py passes -DRESULT=float where the header says). */
#ifndef RESULT
#define RESULT double
#endif

#define MAX_ROWS 100000
#define MAX_LINE 65536
#define SAMPLES 501
#define CALLS_PER_SAMPLE 200

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s ROWS.csv\n", argv[0]);
    return 2;
  }
  FILE* f = fopen(argv[1], "r");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  const int n_features = get_num_feature();
  union Entry* rows = calloc((size_t)MAX_ROWS * n_features, sizeof(union Entry));
  static char line[MAX_LINE];
  int n = 0;
  if (!fgets(line, sizeof line, f)) return 1; /* header */
  while (n < MAX_ROWS && fgets(line, sizeof line, f)) {
    char* p = line;
    for (int j = 0; j < n_features; ++j) {
      char* end;
      double v = strtod(p, &end);
      union Entry* e = &rows[(size_t)n * n_features + j];
      if (end == p || isnan(v)) {
        e->missing = -1;
        if (end == p) end = p + strcspn(p, ",\n");
      } else {
        e->fvalue = v;
      }
      p = *end == ',' ? end + 1 : end;
    }
    ++n;
  }
  fclose(f);
  if (n == 0) return 1;

  RESULT out[16];
  volatile double sink = 0;
  /* one row, repeated (as the other one-row figures are measured) */
  static double samples[SAMPLES];
  for (int w = 0; w < 2000; ++w) {
    memset(out, 0, sizeof out);
    predict(rows, 0, out);
    sink += out[0];
  }
  for (int s = 0; s < SAMPLES; ++s) {
    double t = now_ns();
    for (int c = 0; c < CALLS_PER_SAMPLE; ++c) {
      memset(out, 0, sizeof out);
      predict(rows, 0, out);
      sink += out[0];
    }
    samples[s] = (now_ns() - t) / CALLS_PER_SAMPLE;
  }
  qsort(samples, SAMPLES, sizeof samples[0], cmp);
  memset(out, 0, sizeof out);
  predict(rows, 0, out);
  double first = out[0];

  /* every row, for about two seconds */
  long done = 0;
  double start = now_ns(), elapsed = 0;
  while (elapsed < 2e9) {
    for (int i = 0; i < n; ++i) {
      memset(out, 0, sizeof out);
      predict(rows + (size_t)i * n_features, 0, out);
      sink += out[0];
    }
    done += n;
    elapsed = now_ns() - start;
  }
  printf("{\"one_row_ns\": %.1f, \"batch_rows_per_s\": %.0f, \"first\": %.17g}\n",
         samples[SAMPLES / 2], done / (elapsed / 1e9), first);
  free(rows);
  return sink == 12345.678 ? 3 : 0;
}
