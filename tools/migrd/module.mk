# tools/migrd: migrd reads migrd.conf with libxlutil (xl.cfg's syntax); no other program
# links it. tests/unit/test_migrd_conf.c builds the settings (conf.c) with the test.
XLUTIL_LIBS := $(shell pkg-config --libs xlutil 2>/dev/null || echo -lxlutil)
$(BUILD)/bin/migrd: LDLIBS += $(XLUTIL_LIBS)
$(BUILD)/tests/unit/test_migrd_conf: tools/migrd/conf.c tools/migrd/conf.h
$(BUILD)/tests/unit/test_migrd_conf: UNIT_EXTRA := tools/migrd/conf.c -Itools/migrd
$(BUILD)/tests/unit/test_migrd_conf: LDLIBS += $(XLUTIL_LIBS)
