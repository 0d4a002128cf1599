/**
 * CIM's "AI" mode (reference §8.5): a canned, purely local joke. The typed text is turned into a reply
 * by a few replacements: drop 吗/嘛, question marks become exclamation marks, 你 becomes 我; and the
 * same spirit in English ("you" → "I", "your" → "my"). Nothing is sent.
 */
export const AI_GREETING = 'Hello, I am the AI robot valued at 200 million! (Hello,我是估值两亿的 AI 机器人！)';
export const AI_FAREWELL = '｡ﾟ(ﾟ´ω`ﾟ)ﾟ｡  the AI is offline (AI 下线了！)';

const REPLACEMENTS: readonly [RegExp, string][] = [
  [/[吗嘛]/g, ''],
  [/\?/g, '!'],
  [/？/g, '！'],
  [/你/g, '我'],
  [/\bare you\b/gi, 'I am'],
  [/\byour\b/gi, 'my'],
  [/\byou\b/gi, 'I'],
];

export function aiReply(text: string): string {
  return REPLACEMENTS.reduce((acc, [pattern, replacement]) => acc.replace(pattern, replacement), text);
}
