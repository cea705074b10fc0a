/*
 * send_stream.c: the bytes migr writes around libxenguest's stream.
 *
 *   migr_libxl_stream_begin() / _end(): the libxl v2 framing (Xen's
 *     docs/specs/libxl-migration-stream.pandoc): a 16-byte header "LibxlFmt", version 2,
 *     options 0 (little-endian records), all three big-endian; a LIBXC_CONTEXT record
 *     (type 1, no body) after which libxc's own stream follows; and an END record (type 0,
 *     no body). PV and PVH need no EMULATOR_* records. Records are {u32 type, u32 length}
 *     in the stream's (little) endianness.
 *   migr_xl_header_encode(): xl's save-file header with the JSON config, which `xl
 *     migrate` sends before that stream (tools/xl/xl.h: magic, then u32 byteorder,
 *     mandatory flags, optional flags, optional data length in native order; optional data
 *     = u32 config length, config JSON with its NUL). Flags: STREAMv2 | JSON.
 *   migr_xl_*: xl's handshake strings (tools/xl/xl.h), byte for byte.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libmigr.h"
#include "util.h"

const char migr_xl_banner[55] = "xl migration receiver ready, send binary domain data.\n";
const char migr_xl_ready[34] = "domain received, ready to unpause";
const char migr_xl_go[44] = "domain is yours, you are cleared to unpause";
const char migr_xl_report[39] = "my copy unpause results are as follows";

static const char xl_magic[32] = "Xen saved domain, xl format\n \0 \r";
#define XL_BYTEORDER 0x01020304u
#define XL_FLAG_JSON (1u << 0)
#define XL_FLAG_STREAMV2 (1u << 1)

int migr_libxl_stream_begin(int fd)
{
	uint8_t b[24];
	uint32_t rec[2] = { MIGR_LIBXL_REC_LIBXC_CONTEXT, 0 };

	memcpy(b, "LibxlFmt", 8);
	migr__put_be32(b + 8, 2);   /* version */
	migr__put_be32(b + 12, 0);  /* options: little-endian, not legacy */
	memcpy(b + 16, rec, sizeof(rec));
	return migr__write_all(fd, b, sizeof(b));
}

int migr_libxl_stream_end(int fd)
{
	uint32_t rec[2] = { MIGR_LIBXL_REC_END, 0 };

	return migr__write_all(fd, rec, sizeof(rec));
}

int migr_xl_header_encode(const char *json, size_t json_len, uint8_t **buf_r, size_t *len_r)
{
	uint32_t v[4], cl;
	size_t len;
	uint8_t *b;

	if (!json || json_len == 0 || json[json_len - 1] != '\0' || json_len > MIGR_CONFIG_MAX)
		return -EINVAL;
	len = MIGR_XL_HDR_LEN + 4 + json_len;
	b = malloc(len);
	if (!b)
		return -ENOMEM;
	v[0] = XL_BYTEORDER;
	v[1] = XL_FLAG_STREAMV2 | XL_FLAG_JSON;
	v[2] = 0;
	v[3] = 4 + json_len;
	cl = json_len;
	memcpy(b, xl_magic, 32);
	memcpy(b + 32, v, 16);
	memcpy(b + 48, &cl, 4);
	memcpy(b + 52, json, json_len);
	*buf_r = b;
	*len_r = len;
	return 0;
}

int migr_xl_header_check(const uint8_t hdr[MIGR_XL_HDR_LEN], uint32_t *optlen_r)
{
	uint32_t v[4];

	if (memcmp(hdr, xl_magic, 32))
		return -MIGR_E_PROTO;
	memcpy(v, hdr + 32, 16);
	if (v[0] != XL_BYTEORDER)
		return -MIGR_E_PROTO;
	/* A stream without STREAMv2 is the pre-4.6 legacy format, which needs libxl's
	 * python converter; migr does not accept it. Unknown mandatory flags: reject, as xl. */
	if (v[1] & ~(XL_FLAG_JSON | XL_FLAG_STREAMV2))
		return -MIGR_E_PROTO;
	if (!(v[1] & XL_FLAG_STREAMV2) || !(v[1] & XL_FLAG_JSON))
		return -MIGR_E_UNSUPPORTED;
	if (v[3] < 5 || v[3] > 4 + MIGR_CONFIG_MAX)
		return -MIGR_E_PROTO;
	*optlen_r = v[3];
	return 0;
}

int migr_xl_optdata_config(const uint8_t *opt, uint32_t optlen, char **json_r)
{
	uint32_t cl;
	char *j;

	if (optlen < 5)
		return -MIGR_E_PROTO;
	memcpy(&cl, opt, 4);
	if (cl < 2 || cl > optlen - 4 || cl > MIGR_CONFIG_MAX)
		return -MIGR_E_PROTO;
	/* The config must be one NUL-terminated string with no NUL inside. */
	if (opt[4 + cl - 1] != '\0' || memchr(opt + 4, '\0', cl - 1))
		return -MIGR_E_PROTO;
	j = malloc(cl);
	if (!j)
		return -ENOMEM;
	memcpy(j, opt + 4, cl);
	*json_r = j;
	return 0;
}

/* Names migr creates domains under: what xl would accept, printable, bounded, and room
 * for the "--incoming" / "--migratedaway" suffixes. */
bool migr_domname_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n + sizeof("--migratedaway") > MIGR_DOMNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = name[i];
		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '\\' || c == '"' || c == '\'')
			return false;
	}
	return strcmp(name, "Domain-0") != 0 && !migr_domname_reserved(name);
}
