/**
 * arm64 CPU profiles for emulated runs: a qemu-user CPU model plus the `/proc/cpuinfo` the
 * emulated process sees.
 *
 * onnxruntime picks its arm64 kernels (MLAS: dot-product int8 GEMM, narrow-load variants for
 * in-order cores, ...) from what the CPU reports: the hardware capabilities qemu puts in the
 * auxiliary vector (set by the CPU model) and, through the cpuinfo library, the MIDR fields of
 * `/proc/cpuinfo` (implementer, part). The two are kept consistent here, with the Features
 * line and MIDR a real core of that kind reports.
 */

export interface CpuProfile {
  /** The name used on the command line (`--profiles a72,n1`). */
  name: string;
  /** What it stands for, for reports. */
  description: string;
  /** qemu's `-cpu` model. */
  qemuCpu: string;
  /** The kernel's Features line for this core. */
  features: string[];
  /** MIDR fields as /proc/cpuinfo prints them. */
  implementer: number;
  variant: number;
  part: number;
  revision: number;
}

const ARMV8_BASE = ["fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32"];
const ARMV82_DOT = [...ARMV8_BASE, "atomics", "fphp", "asimdhp", "cpuid", "asimdrdm", "lrcpc", "dcpop", "asimddp"];
const ARMV9_N2 = [...ARMV82_DOT, "sha3", "sm3", "sm4", "sha512", "sve", "asimdfhm", "dit", "uscat", "ilrcpc", "flagm", "ssbs", "sb", "paca", "pacg", "dcpodp", "sve2", "sveaes", "svepmull", "svebitperm", "svesha3", "svesm4", "flagm2", "frint", "svei8mm", "svebf16", "i8mm", "bf16", "dgh", "bti"];

export const PROFILES: readonly CpuProfile[] = [
  {
    name: "a53",
    description: "Cortex-A53 (ARMv8.0, in-order; Raspberry Pi 3, many edge boards)",
    qemuCpu: "cortex-a53",
    features: [...ARMV8_BASE, "cpuid"],
    implementer: 0x41,
    variant: 0x0,
    part: 0xd03,
    revision: 4,
  },
  {
    name: "a72",
    description: "Cortex-A72 (ARMv8.0, no dot product; Raspberry Pi 4, AWS Graviton 1)",
    qemuCpu: "cortex-a72",
    features: [...ARMV8_BASE, "cpuid"],
    implementer: 0x41,
    variant: 0x0,
    part: 0xd08,
    revision: 3,
  },
  {
    name: "a76",
    description: "Cortex-A76 (ARMv8.2 with dot product; Raspberry Pi 5)",
    qemuCpu: "cortex-a76",
    features: ARMV82_DOT,
    implementer: 0x41,
    variant: 0x4,
    part: 0xd0b,
    revision: 1,
  },
  {
    name: "n1",
    description: "Neoverse-N1 (ARMv8.2 with dot product; AWS Graviton 2, Ampere Altra)",
    qemuCpu: "neoverse-n1",
    features: [...ARMV82_DOT, "ssbs"],
    implementer: 0x41,
    variant: 0x3,
    part: 0xd0c,
    revision: 1,
  },
  {
    // qemu 7.2 has no Neoverse-N2 model. Its "max" CPU has N2's int8 features (dot product,
    // i8mm, SVE2) and more; SME is turned off (no N2 has it, and onnxruntime takes an SME
    // path when it sees it) and the SVE vector length set to N2's 128 bits.
    name: "n2",
    description: "Neoverse-N2 (ARMv9: SVE2 at 128 bits, i8mm, bf16; AWS Graviton 3/4 class), qemu's max CPU without SME",
    qemuCpu: "max,sme=off,sve-default-vector-length=16",
    features: ARMV9_N2,
    implementer: 0x41,
    variant: 0x0,
    part: 0xd49,
    revision: 0,
  },
  {
    // Everything qemu 7.2 emulates, SME and SME2 included: no shipping Linux core matches it.
    // qemu's SME emulation was new in 7.1, so a difference seen only here may be qemu's.
    name: "max",
    description: "qemu's max CPU with SME (no real core; stands for SME-capable ARMv9 parts; qemu 7.2's SME emulation is young)",
    qemuCpu: "max,sve-default-vector-length=16",
    features: [...ARMV9_N2, "sme", "smei16i64", "smef64f64", "smei8i32", "smef16f32", "smeb16f32", "smef32f32", "smefa64"],
    implementer: 0x41,
    variant: 0x0,
    part: 0xd49,
    revision: 0,
  },
];

export const DEFAULT_PROFILES = ["a72", "n1"];

export function findProfile(name: string): CpuProfile | undefined {
  return PROFILES.find((p) => p.name === name);
}

/** `/proc/cpuinfo` of a one-core machine with this profile's core, as an arm64 kernel prints it. */
export function cpuinfoText(p: CpuProfile): string {
  const hex = (n: number, width = 1) => `0x${n.toString(16).padStart(width, "0")}`;
  return [
    "processor\t: 0",
    "BogoMIPS\t: 50.00",
    `Features\t: ${p.features.join(" ")}`,
    `CPU implementer\t: ${hex(p.implementer, 2)}`,
    "CPU architecture: 8",
    `CPU variant\t: ${hex(p.variant)}`,
    `CPU part\t: ${hex(p.part, 3)}`,
    `CPU revision\t: ${p.revision}`,
    "",
    "",
  ].join("\n");
}
