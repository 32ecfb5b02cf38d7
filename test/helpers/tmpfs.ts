import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A small real tmpfs, for the disk-full and read-only cases of the durable store: a full disk and
 * a read-only file system that even root cannot write to. Needs root with CAP_SYS_ADMIN (as in CI).
 */
export class Tmpfs {
  private constructor(readonly path: string) {}

  /** Whether this process may mount file systems. */
  static available(): boolean {
    if (process.getuid?.() !== 0) return false;
    const probe = mkdtempSync(join(tmpdir(), 'ssehub-mount-probe-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', [probe], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  }

  static mount(options: { sizeBytes: number; readOnly?: boolean }): Tmpfs {
    const path = mkdtempSync(join(tmpdir(), 'ssehub-tmpfs-'));
    const flags = [`size=${options.sizeBytes}`, ...(options.readOnly ? ['ro'] : [])].join(',');
    execFileSync('mount', ['-t', 'tmpfs', '-o', flags, 'tmpfs', path], { stdio: 'ignore' });
    return new Tmpfs(path);
  }

  unmount(): void {
    try {
      execFileSync('umount', ['-l', this.path], { stdio: 'ignore' });
    } finally {
      rmSync(this.path, { recursive: true, force: true });
    }
  }
}
