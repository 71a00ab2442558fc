#!/bin/sh
# Entrypoint of the sshd service: make the host keys on the first start of this boot, the
# privilege-separation directory, then sshd in the foreground logging to stderr (the console).
set -e
mkdir -p /run/ssh /run/sshd
chmod 0755 /run/ssh
# sshd refuses a privilege-separation directory that others may write to
chmod 0755 /run/sshd
for t in ed25519 ecdsa; do
  k=/run/ssh/ssh_host_${t}_key
  if [ ! -s "$k" ]; then
    rm -f "$k" "$k.pub"
    /usr/bin/ssh-keygen -q -t "$t" -N '' -C "root@$(hostname)" -f "$k"
    echo "sshd: made host key $(/usr/bin/ssh-keygen -l -f "$k.pub")"
  fi
done
if [ ! -s /host/etc/ssh/authorized_keys ] && [ ! -s /run/config/ssh/authorized_keys ]; then
  echo "sshd: no authorized keys yet (/etc/ssh/authorized_keys from the blueprint's files, or /run/config/ssh/authorized_keys from metadata): nobody can log in until one appears" >&2
fi
# sshd re-executes itself for each connection: it needs its absolute path
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config "$@"
