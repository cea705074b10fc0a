# tests/pkg: what an installed migr looks like.
#   test_manpages.sh   every --option of every --help is in its man page (man/), no more
#   test_completion.sh the bash completion against the built programs
#   test_migrd_conf.sh migrd --check-config, and migrd.conf(5) and the shipped migrd.conf
#                      against the keys migrd knows
#   test_deb.sh        `make deb`, lintian, install/upgrade/purge on this machine (root;
#                      skips otherwise, and where migr is installed)
CHECK_TESTS += tests/pkg/test_manpages.sh tests/pkg/test_completion.sh tests/pkg/test_migrd_conf.sh \
	tests/pkg/test_deb.sh
