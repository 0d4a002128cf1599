import { describe, expect, it } from 'vitest';
import { Prop } from '../codec.ts';
import { attachmentOf, attachmentProperties, checkAttachment, fileMessageText, isFileName } from './attachment.ts';
import { checkFileToken, issueFileToken } from './file-token.ts';
import { parseFileTypes, refusedFile } from './policy.ts';

const ID = 'AbCdEfGhIjKlMnOpQrStUv';
const OTHER = 'zbCdEfGhIjKlMnOpQrStUv';

describe('file download tokens', () => {
  it('are valid for their file until they expire, and for nothing else', () => {
    const token = issueFileToken('s3cret', ID, 1_000_000, 60_000);
    expect(checkFileToken('s3cret', ID, token, 1_000_000)).toBe('ok');
    expect(checkFileToken('s3cret', ID, token, 1_060_000)).toBe('expired');
    expect(checkFileToken('s3cret', OTHER, token, 1_000_000)).toBe('invalid');
    expect(checkFileToken('other-secret', ID, token, 1_000_000)).toBe('invalid');
    const [exp, sig] = token.split('.');
    expect(checkFileToken('s3cret', ID, `${Number(exp) + 1000}.${sig}`, 1_000_000)).toBe('invalid'); // a longer life is not for free
    for (const bad of [undefined, '', 'x', `${exp}.`, `${exp}.${sig}x`, `-1.${sig}`]) expect(checkFileToken('s3cret', ID, bad, 1_000_000)).toBe('invalid');
  });
});

describe('attachments', () => {
  const a = { fileId: ID, name: 'report 1.pdf', size: 3_145_728, type: 'application/pdf', token: issueFileToken('k', ID, 0, 1000) };

  it('go through frame properties and back', () => {
    const props = attachmentProperties(a);
    expect(Object.keys(props).sort()).toEqual([Prop.fileId, Prop.fileName, Prop.fileSize, Prop.fileToken, Prop.fileType].sort());
    expect(attachmentOf(props)).toEqual(a);
    expect(attachmentOf({})).toBeUndefined();
    expect(fileMessageText(a)).toBe('[file] report 1.pdf (3.0 MiB)');
  });

  it('are invalid when any property is missing or unsound (never a crash)', () => {
    const props = attachmentProperties(a);
    for (const key of Object.keys(props)) {
      const { [key]: _gone, ...rest } = props;
      expect(attachmentOf(rest), key).toBe('invalid');
    }
    for (const [key, value] of [[Prop.fileId, '../x'], [Prop.fileName, 'a/b'], [Prop.fileName, 'evil\u202etxt.exe'], [Prop.fileSize, '-1'], [Prop.fileSize, '1e3'], [Prop.fileType, 'text'], [Prop.fileToken, 'x']] as const) {
      expect(attachmentOf({ ...props, [key]: value }), `${key}=${value}`).toBe('invalid');
    }
    expect(checkAttachment(null)).toBeUndefined();
    expect(checkAttachment({ ...a, size: 1.5 })).toBeUndefined();
    expect([isFileName('..'), isFileName(' x'), isFileName('x'.repeat(256)), isFileName('ok.txt')]).toEqual([false, false, false, true]);
  });
});

describe('upload policy', () => {
  const allowed = parseFileTypes('image/*, application/pdf,text/plain');
  it('accepts listed types and type/* families', () => {
    expect(refusedFile('a.png', 'image/png', allowed)).toBeUndefined();
    expect(refusedFile('a.pdf', 'application/pdf', allowed)).toBeUndefined();
  });
  it('refuses other types, and executable or script names whatever the type', () => {
    expect(refusedFile('a.bin', 'application/x-msdownload', allowed)).toMatch(/not accepted/);
    for (const name of ['setup.exe', 'run.SH', 'page.html', 'x.svg', 'y.js', 'z.bat']) expect(refusedFile(name, 'text/plain', allowed), name).toMatch(/executable/);
  });
  it('rejects a malformed list', () => {
    expect(() => parseFileTypes('image')).toThrow(/not a media type/);
    expect(() => parseFileTypes(' , ')).toThrow(/empty/);
  });
});
