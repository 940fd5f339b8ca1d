# SPDX-License-Identifier: GPL-2.0
# lazymig.ko, built out of tree from the top-level Kbuild.  Kbuild builds
# in its source directory, so the sources are mirrored under build/kmod/
# (one copy per kernel) and only the .ko is copied to build/lazymig.ko.

KHDR_PKG := $(shell dpkg-query -W -f='$${Depends}' linux-headers-amd64 2>/dev/null | \
	grep -o 'linux-headers-6[^ ,]*-amd64' | head -n1)
KDIR ?= /usr/src/$(KHDR_PKG)
KVER_OF_KDIR = $(shell sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h 2>/dev/null)
KMOD_DIR = $(B)/kmod/$(KVER_OF_KDIR)
KMOD_OUT ?= $(B)/lazymig.ko

.PHONY: module
module:
	$(Q)test -d "$(KDIR)" || { echo "module: KDIR=$(KDIR) not found (run scripts/deps.sh)"; exit 1; }
	$(Q)mkdir -p $(KMOD_DIR)
	$(Q)rsync -a --delete --exclude '*.mk' Kbuild module include $(KMOD_DIR)/
	$(Q)$(MAKE) -C $(KDIR) M=$(abspath $(KMOD_DIR)) W=1 modules
	$(Q)cp $(KMOD_DIR)/lazymig.ko $(KMOD_OUT)
	$(Q)echo "  KO      $(KMOD_OUT) for $(KVER_OF_KDIR)"
