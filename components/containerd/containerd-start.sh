#!/bin/sh
# Entrypoint of the containerd service. /sys/fs/cgroup is this container's own cgroup (the root
# of its cgroup namespace), mounted read-write: runc, under containerd's shim, makes each task's
# cgroup below it (<namespace>/<id>). Snapshots are overlayfs: the kernel needs the `overlay`
# module (the blueprint's kernel.modules).
mkdir -p /run/containerd /var/lib/containerd
if ! grep -qw overlay /proc/filesystems; then
  echo "containerd: the kernel has no overlay filesystem: add overlay to the blueprint's kernel.modules" >&2
  exit 1
fi
# cgroup v2 lets a cgroup hand controllers (cpu, memory, pids...) to its children only while no
# process sits in it: containerd moves to a leaf of its own, and the controllers this cgroup
# was given pass on to the tasks' cgroups. Best effort: without them tasks run unlimited.
cg=/sys/fs/cgroup
if [ -w $cg/cgroup.procs ]; then
  mkdir -p $cg/containerd && echo $$ >$cg/containerd/cgroup.procs
  for c in $(cat $cg/cgroup.controllers); do echo "+$c" >$cg/cgroup.subtree_control; done 2>/dev/null
fi
echo "containerd: cgroup controllers for tasks: $(cat $cg/cgroup.subtree_control 2>/dev/null)"
exec /usr/bin/containerd --config /etc/containerd/config.toml "$@"
