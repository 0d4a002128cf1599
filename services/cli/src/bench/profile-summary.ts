/**
 * Summarises V8 .cpuprofile files (written by `node --cpu-prof`): the frames with the most self time,
 * per profile, as text lines. Also runnable alone: `node profile-summary.ts DIR [TOP]`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export function summariseProfile(file: string, top: number): string[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples?: number[]; startTime: number; endTime: number };
  const self = new Map<string, number>();
  let total = 0;
  // Node's profiles carry `samples` (node ids) rather than hitCount.
  const hitsOf = new Map<number, number>();
  for (const id of profile.samples ?? []) hitsOf.set(id, (hitsOf.get(id) ?? 0) + 1);
  for (const n of profile.nodes) {
    const hits = n.hitCount || hitsOf.get(n.id) || 0;
    if (hits === 0) continue;
    total += hits;
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${url.replace(/^file:\/\/.*?\/(services|node_modules)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  const seconds = (profile.endTime - profile.startTime) / 1e6;
  const lines = [`${basename(file)}: ${total} samples over ${seconds.toFixed(1)} s; top ${top} by self time:`];
  for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${((hits / total) * 100).toFixed(1).padStart(5)} %  ${key}`);
  return lines;
}

export function summariseProfiles(dir: string, top: number): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .flatMap((f) => summariseProfile(join(dir, f), top));
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(summariseProfiles(process.argv[2] ?? '.', Number(process.argv[3] ?? 30)).join('\n'));
