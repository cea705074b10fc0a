# The schema text is built into libmigr (libmigr/schema_data.c includes it with .incbin,
# which -MMD does not see): rebuild that object when the schema changes.
$(BUILD)/obj/libmigr/schema_data.o $(BUILD)/san/libmigr/schema_data.o: xenstore-schema/migr.schema
