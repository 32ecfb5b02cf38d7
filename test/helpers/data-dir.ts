import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Temporary data directories for durable-store tests, removed by `removeAll` (call in afterAll/afterEach). */
export class TempDirs {
  private readonly dirs: string[] = [];

  make(label = 'data'): string {
    const dir = mkdtempSync(join(tmpdir(), `ssehub-${label}-`));
    this.dirs.push(dir);
    return dir;
  }

  removeAll(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
