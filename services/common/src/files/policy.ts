/**
 * What the route accepts for upload (--file-types, --max-file-bytes): media types from an allow-list, and never
 * a name that runs when opened (by extension, whatever type the uploader claims: a type is only a claim, and
 * sniffing content would not make an executable safe either). Downloads are always attachments (files-routes.ts).
 */
import { isMediaType } from './attachment.ts';

export const DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024;
/** Images browsers render as images only (no SVG: it can carry script), PDF, plain text, zip, raw bytes. */
export const DEFAULT_FILE_TYPES = 'image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,application/zip,application/octet-stream';

const EXECUTABLE = /\.(exe|com|bat|cmd|msi|msp|scr|pif|cpl|dll|sys|ps1|psm1|vbs|vbe|js|mjs|cjs|jse|wsf|wsh|hta|html?|xhtml|svg|jar|apk|app|dmg|pkg|deb|rpm|sh|bash|zsh|csh|command|elf|lnk|reg|py|pl|rb|php)$/i;

/** The allow-list of --file-types: `type/subtype` or `type/*`, comma-separated. @throws on a malformed entry */
export function parseFileTypes(list: string): readonly string[] {
  const types = list.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
  for (const t of types) if (!isMediaType(t.replace(/\/\*$/, '/x'))) throw new Error(`--file-types: "${t}" is not a media type (type/subtype or type/*)`);
  if (types.length === 0) throw new Error('--file-types: empty list');
  return types;
}

/** Why a file may not be uploaded, or undefined when it may. */
export function refusedFile(name: string, type: string, allowed: readonly string[]): string | undefined {
  if (EXECUTABLE.test(name)) return 'executable or script files are not accepted';
  const t = type.toLowerCase();
  const ok = allowed.some((a) => a === t || (a.endsWith('/*') && t.startsWith(a.slice(0, -1))));
  return ok ? undefined : `type ${type} is not accepted (accepted: ${allowed.join(', ')})`;
}
