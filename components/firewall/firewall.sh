#!/bin/sh
# Loads the host's /etc/nftables.conf (atomically: nft applies a file as one transaction, so a
# rule that fails leaves the previous ruleset) and prints the ruleset now in force. Exits
# non-zero without a file or when nft refuses it, so the console shows the onboot exit code.
conf=/host/etc/nftables.conf
if [ ! -f "$conf" ]; then
  echo "firewall: no /etc/nftables.conf on the host: put the ruleset there with the blueprint's files" >&2
  exit 1
fi
echo "firewall: loading /etc/nftables.conf"
# -I: relative includes are looked up in the host's /etc (an absolute /etc/... include is not
# visible here: write it relative, `include "nftables.d/*.nft"`)
if ! nft -I /host/etc -f "$conf"; then
  echo "firewall: nft rejected /etc/nftables.conf (see above; the kernel.modules need nf_tables and the nft_* modules the rules use)" >&2
  exit 1
fi
echo "firewall: ruleset loaded:"
nft list ruleset | sed 's/^/firewall: /'
