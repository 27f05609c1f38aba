/* Float increments with C's long double, so INCRBYFLOAT gives the same digits as Redis,
 * which computes in long double and prints with "%.17Lf" minus trailing zeros. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses len bytes at s as a long double: no surrounding spaces, no trailing bytes, no NaN. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[5200];
    char *end;
    if (len == 0 || len >= sizeof(buf) || isspace((unsigned char)s[0])) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != len || isnan(v) || (errno == ERANGE && !isinf(v) && v != 0)) return 0;
    *out = v;
    return 1;
}

/* Adds two decimal strings. Returns the output length, -1 if an input is not a float,
 * -2 if the result is NaN or infinite, -3 if it does not fit in out. */
int fc_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t outlen) {
    long double x, y;
    if (!parse_ld(a, alen, &x)) return -1;
    if (!parse_ld(b, blen, &y)) return -1;
    long double r = x + y;
    if (isnan(r) || isinf(r)) return -2;
    int l = snprintf(out, outlen, "%.17Lf", r);
    if (l < 0 || (size_t)l + 1 > outlen) return -3;
    if (strchr(out, '.') != NULL) {
        while (l > 0 && out[l - 1] == '0') l--;
        if (l > 0 && out[l - 1] == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    return l;
}
