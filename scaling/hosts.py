"""The hosts of one run (`sweep.launch.hosts_per_run`): their checks and the gang layout.

A run of k hosts is k train.py processes that form one multi-process jax program: on the Ray
backend, a placement group of k bundles (one per host, on distinct nodes) of the per-host
resources `num_cpus`, `num_gpus` and `resources`, or on TPU VMs the hosts of a slice of
`tpu_topology` / `tpu_version` (each bundle holding one host's chips); on the local backend,
k processes on this machine, each seeing `devices_per_host` devices (the TPU fields unused:
`--config.launch.devices_per_host=4` runs a v4-32 preset's gang on 16 CPU devices).
"""
import ml_collections


def slice_hosts(topology: str, version: str) -> tuple[int, int]:
  """(hosts, chips per host) of a TPU slice, e.g. ('2x2x4', 'v4') -> (4, 4)."""
  from ray.util import tpu  # pylint: disable=import-outside-toplevel
  try:
    chips_per_host = tpu.get_chips_per_host(topology, version)
    chips = tpu.get_num_chips_from_topology(topology)
  except (ValueError, KeyError, AttributeError) as error:
    raise ValueError(f"sweep.launch.tpu_topology={topology!r} / tpu_version={version!r} is not "
                     f"a TPU slice ({error}); use e.g. tpu_topology='2x2x4', tpu_version='v4'"
                     ) from None
  return chips // chips_per_host, chips_per_host


def check(settings: ml_collections.ConfigDict, backend: str) -> None:
  """Raises ValueError (one line naming the field and the fix) for hosts that cannot be laid
  out: fewer than one, a TPU slice they do not divide, local devices that do not add up."""
  hosts = settings.hosts_per_run
  if not isinstance(hosts, int) or hosts < 1:
    raise ValueError(f"sweep.launch.hosts_per_run={hosts!r} must be a whole number of hosts, "
                     f"at least 1")
  if settings.devices_per_host < 0:
    raise ValueError(f"sweep.launch.devices_per_host={settings.devices_per_host} must be 0 "
                     f"(every device) or positive")
  if bool(settings.tpu_topology) != bool(settings.tpu_version):
    raise ValueError("sweep.launch.tpu_topology and tpu_version go together; set both (e.g. "
                     "'2x2x4' and 'v4') or neither")
  if settings.tpu_topology and backend == "ray":
    total, _ = slice_hosts(settings.tpu_topology, settings.tpu_version)
    if total % hosts:
      divisors = ", ".join(str(k) for k in range(1, total + 1) if total % k == 0)
      raise ValueError(
          f"sweep.launch.hosts_per_run={hosts} does not divide the {total} hosts of a "
          f"{settings.tpu_version} {settings.tpu_topology} slice; use one of {divisors}")
  if (backend == "local" and hosts > 1 and settings.gpus_per_run > 0
      and settings.gpus_per_run != hosts * settings.devices_per_host):
    raise ValueError(
        f"sweep.launch.gpus_per_run={settings.gpus_per_run} is not hosts_per_run x "
        f"devices_per_host = {hosts} x {settings.devices_per_host}; set gpus_per_run="
        f"{hosts * settings.devices_per_host} or change devices_per_host")


def layout_line(settings: ml_collections.ConfigDict, backend: str) -> str | None:
  """How each run's hosts are laid out, for the dry run; None for a run of one local process."""
  hosts = settings.hosts_per_run
  if backend == "local" and hosts == 1:
    return None
  if backend == "local":
    devices = (f"{settings.devices_per_host} devices each" if settings.devices_per_host
               else "every device each")
    return (f"gang: each run is {hosts} train.py processes on this machine ({devices}), "
            f"process 0 the coordinator on 127.0.0.1")
  if settings.tpu_topology:
    total, chips = slice_hosts(settings.tpu_topology, settings.tpu_version)
    bundle = {"TPU": chips}
    where = (f"a whole {settings.tpu_version} {settings.tpu_topology} slice" if hosts == total
             else f"{hosts} of the {total} hosts of a {settings.tpu_version} "
                  f"{settings.tpu_topology} slice")
  else:
    bundle = {name: value for name, value in (("CPU", settings.num_cpus),
                                              ("GPU", settings.num_gpus)) if value}
    bundle.update(settings.resources)
    where = f"{hosts} distinct nodes (STRICT_SPREAD)"
  return (f"gang: each run is a placement group of {hosts} bundles {bundle} on {where}, one "
          f"train.py per bundle; bundle 0's node is the coordinator (JAX_COORDINATOR_ADDRESS, "
          f"JAX_NUM_PROCESSES={hosts}, JAX_PROCESS_ID=0..{hosts - 1})")
