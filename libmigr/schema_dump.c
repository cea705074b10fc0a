/*
 * schema_dump.c: reads `xenstore-ls -f -p` output, one line at a time, for
 * `migr schema-check --dump` and the tests.
 *
 * Entry points: migr_xs_dump_parse_line(), migr_xs_entry_clear(). The line format is
 * xenstore_client.c's do_ls(): `PATH = "VALUE"  (PERMS)`, or `PATH:  (PERMS)` when the value
 * could not be read; values are escaped (\t \n \r \\ \xNN, \NNN for bytes below 010) and
 * cut with `\...` when xenstore-ls wrote to a terminal. A value may itself contain '"', so
 * the value ends at the last '"' before the permission list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

void migr_xs_entry_clear(struct migr_xs_entry *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->value);
	free(e->perms);
	memset(e, 0, sizeof(*e));
}

static int is_path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '/' || c == '_' || c == '@';
}

static int is_perm_char(char c)
{
	return c == 'n' || c == 'r' || c == 'w' || c == 'b' || c == ',' ||
	       (c >= '0' && c <= '9');
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undoes xenstore-ls's escaping of s[0..n) into out (at least n+1 bytes). */
static int unescape(const char *s, size_t n, char *out, size_t *outlen_r, int *trunc_r)
{
	size_t i = 0, o = 0;

	*trunc_r = 0;
	while (i < n) {
		char c = s[i++];

		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		if (i >= n)
			return -EINVAL;
		c = s[i++];
		switch (c) {
		case 't':  out[o++] = '\t'; break;
		case 'n':  out[o++] = '\n'; break;
		case 'r':  out[o++] = '\r'; break;
		case '\\': out[o++] = '\\'; break;
		case 'x': {
			int h, l;

			if (n - i < 2 || (h = hexval(s[i])) < 0 || (l = hexval(s[i + 1])) < 0)
				return -EINVAL;
			out[o++] = (char)(h * 16 + l);
			i += 2;
			break;
		}
		case '.':
			/* "\..." at the very end: xenstore-ls cut the value. */
			if (n - i == 2 && s[i] == '.' && s[i + 1] == '.') {
				*trunc_r = 1;
				i = n;
				break;
			}
			return -EINVAL;
		default:
			if (c >= '0' && c <= '7' && n - i >= 2 &&
			    s[i] >= '0' && s[i] <= '7' && s[i + 1] >= '0' && s[i + 1] <= '7') {
				out[o++] = (char)((c - '0') * 64 + (s[i] - '0') * 8 + (s[i + 1] - '0'));
				i += 2;
				break;
			}
			return -EINVAL;
		}
	}
	out[o] = 0;
	*outlen_r = o;
	return 0;
}

int migr_xs_dump_parse_line(const char *line, size_t len, struct migr_xs_entry *entry_r)
{
	struct migr_xs_entry e = { 0 };
	size_t plen, end = len;
	int rc;

	if (!line || len == 0 || len > MIGR_SCHEMA_MAX_PATH + 4 * MIGR_SCHEMA_MAX_VALUE + 1024)
		return -EINVAL;
	if (line[len - 1] == '\r')
		end--;
	for (plen = 0; plen < end && is_path_char(line[plen]); plen++)
		;
	if (plen == 0 || line[0] != '/' || plen > MIGR_SCHEMA_MAX_PATH)
		return -EINVAL;

	/* Trailing "  (PERMS)"? */
	if (end > plen && line[end - 1] == ')') {
		size_t k = end - 1;

		while (k > plen && is_perm_char(line[k - 1]))
			k--;
		if (k >= plen + 3 && line[k - 1] == '(' && line[k - 2] == ' ' &&
		    line[k - 3] == ' ' && k < end - 1) {
			if (!(e.perms = strndup(line + k, end - 1 - k))) {
				rc = -ENOMEM;
				goto out;
			}
			end = k - 3;
			/* xenstore-ls without -f pads with " . . ."; -f pads with nothing. */
			while (end > plen && (line[end - 1] == ' ' || line[end - 1] == '.') &&
			       !(line[end - 1] == '.' && end >= 2 && line[end - 2] == '"'))
				end--;
		}
	}
	if (!(e.path = strndup(line, plen))) {
		rc = -ENOMEM;
		goto out;
	}
	if (end == plen + 1 && line[plen] == ':') {
		e.value = NULL;            /* unreadable */
	} else if (end >= plen + 5 && !memcmp(line + plen, " = \"", 4) && line[end - 1] == '"') {
		const char *v = line + plen + 4;
		size_t vn = end - 1 - (plen + 4);

		if (!(e.value = malloc(vn + 1))) {
			rc = -ENOMEM;
			goto out;
		}
		if ((rc = unescape(v, vn, e.value, &e.vlen, &e.truncated)))
			goto out;
	} else {
		rc = -EINVAL;
		goto out;
	}
	*entry_r = e;
	memset(&e, 0, sizeof(e));
	rc = 0;
out:
	migr_xs_entry_clear(&e);
	return rc;
}
