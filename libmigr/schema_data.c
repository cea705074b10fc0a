/*
 * schema_data.c: the text of xenstore-schema/migr.schema, compiled into the library so that
 * migrd and `migr schema-check` always check against the contract they were built with.
 * (xenstore-schema/module.mk makes this object depend on the schema file.)
 */
#include <stddef.h>
#include "libmigr.h"

__asm__(".section .rodata\n"
	".global migr__schema_text\n"
	".type migr__schema_text, @object\n"
	"migr__schema_text:\n"
	".incbin \"xenstore-schema/migr.schema\"\n"
	".global migr__schema_text_end\n"
	"migr__schema_text_end:\n"
	".byte 0\n"
	".previous\n");

extern const char migr__schema_text[];
extern const char migr__schema_text_end[];

const char *migr_schema_builtin(size_t *len_r)
{
	if (len_r)
		*len_r = (size_t)(migr__schema_text_end - migr__schema_text);
	return migr__schema_text;
}

int migr_schema_load_builtin(struct migr_schema **schema_r)
{
	size_t len;
	const char *t = migr_schema_builtin(&len);

	return migr_schema_parse(t, len, schema_r, NULL, 0);
}
