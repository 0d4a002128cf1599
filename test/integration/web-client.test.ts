/**
 * The web chat client (services/web) in a real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) against a real password-mode cluster: the route serves the page at /app/ with its
 * security headers, two browser users sign up and chat in the group and privately (unread counts,
 * delivered/read marks), a browser user and a `cim chat` process talk both ways, and the server holding a
 * page's connection is SIGKILLed: the page shows `reconnecting`, comes back by itself and keeps chatting.
 * Named groups: a page creates one, another joins it by id, they chat in it, a non-member gets nothing and the
 * history comes back after a new login. Every message is counted on both sides. Screenshots at 390x844 and
 * 1280x800 go to test-artifacts/web/.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultWebRoot } from '../../services/route/src/web.ts';
import { TextSink } from '../harness/text-sink.ts';
import { CIM_MAIN, startCluster, type TestCluster } from '../harness/cluster.ts';

const CHROMIUM = '/usr/bin/chromium';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(REPO, 'test-artifacts/web');
const WAIT_MS = 15_000;
const PASSWORD = 'web-test-password';

let cluster: TestCluster;
let browser: Browser;
let home: string;
const contexts: BrowserContext[] = [];
const chats: ChildProcessWithoutNullStreams[] = [];
/** Console errors and CSP violations of every page: the page must run without any. */
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensure-system-deps.sh`);
  if (!existsSync(join(defaultWebRoot(), 'index.html'))) await run(process.execPath, [join(REPO, 'scripts/build-web.mjs')]);
  await mkdir(ARTIFACTS, { recursive: true });
  home = await mkdtemp(join(tmpdir(), 'cim-web-it-'));
  // The page may also connect to the servers themselves (?via=auto): the CSP must allow their WebSocket origins.
  cluster = await startCluster({ servers: 2, authSecret: 'web-client-test-secret', routeArgs: ['--web-connect-src', 'ws://127.0.0.1:*'] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
}, 120_000);

afterAll(async () => {
  if (pageErrors.length > 0) console.error('page errors:', pageErrors);
  for (const child of chats) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
  await browser?.close();
  await cluster?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

async function openPage(width: number, height: number): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height } });
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return page;
}

async function signUp(page: Page, name: string, query = ''): Promise<void> {
  await page.goto(`${cluster.routeUrl}/${query}`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expectState(page, 'ready');
  await page.getByRole('log').waitFor();
}

/** Waits until the page shows this connection state; a timeout says what the page shows instead. */
async function expectState(page: Page, state: string): Promise<void> {
  try {
    await page.locator(`#conn-state[data-state="${state}"]`).waitFor({ timeout: WAIT_MS });
  } catch (err) {
    const shown = await page.evaluate('[...document.querySelectorAll("#conn-state, [role=alert]")].map((e) => e.id + "=" + e.textContent + " " + e.title).join(" | ")');
    (err as Error).message += `\npage shows: ${String(shown)}`;
    throw err;
  }
}

/** Opens the conversation whose button's accessible name starts with `title`. */
async function open(page: Page, title: string): Promise<void> {
  await page.getByRole('button', { name: new RegExp(`^${title},`) }).click();
  await expect.poll(() => page.locator('#room-title').textContent()).toBe(title);
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.keyboard.press('Enter');
}

/** Texts of the received (or sent) lines in the open conversation. */
const lines = (page: Page, mine: boolean) => page.locator(mine ? '#messages li.mine .text' : '#messages li:not(.mine) .text').allTextContents();

async function waitForLines(page: Page, mine: boolean, count: number): Promise<string[]> {
  await expect.poll(() => lines(page, mine).then((l) => l.length), { timeout: WAIT_MS }).toBe(count);
  return lines(page, mine);
}

const marks = (page: Page) => page.locator('#messages li.mine .mark').evaluateAll((els) => els.map((e) => e.getAttribute('data-mark')));
const unread = (page: Page, title: string) =>
  page.getByRole('button', { name: new RegExp(`^${title},`) }).locator('.badge').textContent({ timeout: WAIT_MS }).then(Number);

interface Chat {
  readonly stdout: TextSink;
  say(line: string): void;
  see(expected: RegExp | string): Promise<string>;
}

function startChat(user: string): Chat {
  const child = spawn(process.execPath, [CIM_MAIN, 'chat', '--route', cluster.routeUrl, '--user', user, '--password', PASSWORD, '--history-dir', home], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'], HOME: home },
  });
  chats.push(child);
  const stdout = new TextSink();
  const stderr = new TextSink();
  child.stdout.pipe(stdout);
  child.stderr.pipe(stderr);
  return {
    stdout,
    say: (line) => void child.stdin.write(`${line}\n`),
    see: (expected) =>
      stdout.waitFor(expected, WAIT_MS).catch((err: Error) => {
        err.message += `\n--- stderr ---\n${stderr.text}`;
        throw err;
      }),
  };
}

describe('web client in headless Chromium', () => {
  it('is served at /app/ with a strict CSP, security and caching headers', async () => {
    const root = await fetch(`${cluster.routeUrl}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/app/');
    const html = await fetch(`${cluster.routeUrl}/app/`);
    expect(html.status).toBe(200);
    const csp = html.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe');
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    expect(html.headers.get('cache-control')).toBe('no-cache');
    const script = /src="(app-[A-Z0-9]+\.js)"/.exec(await html.text())?.[1];
    expect(script).toBeDefined();
    const js = await fetch(`${cluster.routeUrl}/app/${script}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    // The JSON API keeps its own headers: helmet is scoped to the page.
    const api = await fetch(`${cluster.routeUrl}/onlineUser`);
    expect(api.headers.get('content-security-policy')).toBeNull();
  });

  it('two pages chat in the group and privately, a page and `cim chat` talk both ways, a page survives its server being killed', async () => {
    const alice = await openPage(1280, 800);
    const bob = await openPage(390, 844);
    await signUp(alice, 'web-alice');
    await signUp(bob, 'web-bob');
    // Signing up again with the same name is refused in the form; logging in is not (checked last).

    // Group: 3 each way, every one seen once by the other side.
    for (let i = 1; i <= 3; i++) await send(alice, `group from alice ${i}`);
    for (let i = 1; i <= 3; i++) await send(bob, `group from bob ${i}`);
    expect(await waitForLines(bob, false, 3)).toEqual(['group from alice 1', 'group from alice 2', 'group from alice 3']);
    expect(await waitForLines(alice, false, 3)).toEqual(['group from bob 1', 'group from bob 2', 'group from bob 3']);
    await expect.poll(() => marks(alice), { timeout: WAIT_MS }).toEqual(['sent', 'sent', 'sent']);

    // Private: bob → alice 3 while alice looks at the group: unread 3, delivered; alice opens: read.
    await open(bob, 'web-alice');
    for (let i = 1; i <= 3; i++) await send(bob, `private bob to alice ${i}`);
    await expect.poll(() => unread(alice, 'web-bob'), { timeout: WAIT_MS }).toBe(3);
    await expect.poll(() => marks(bob), { timeout: WAIT_MS }).toEqual(['delivered', 'delivered', 'delivered']);
    await open(alice, 'web-bob');
    expect(await lines(alice, false)).toEqual(['private bob to alice 1', 'private bob to alice 2', 'private bob to alice 3']);
    await expect.poll(() => marks(bob), { timeout: WAIT_MS }).toEqual(['read', 'read', 'read']);
    expect(await alice.getByRole('button', { name: /^web-bob,/ }).locator('.badge').count()).toBe(0);
    // alice → bob 2, bob has the conversation open: read at once.
    for (let i = 1; i <= 2; i++) await send(alice, `private alice to bob ${i}`);
    expect(await waitForLines(bob, false, 2)).toEqual(['private alice to bob 1', 'private alice to bob 2']);
    await expect.poll(() => marks(alice), { timeout: WAIT_MS }).toEqual(['read', 'read']);

    await alice.screenshot({ path: join(ARTIFACTS, 'chat-1280x800.png') });
    await bob.screenshot({ path: join(ARTIFACTS, 'chat-390x844.png') });

    // A browser user and a `cim chat` process, both ways, private and group.
    const carol = startChat('web-carol');
    const carolId = Number(/userId (\d+)/.exec(await carol.see(/\* logged in as \S+ \(userId \d+\)/))![1]);
    await expect.poll(() => alice.getByRole('button', { name: /^web-carol, online/ }).count(), { timeout: WAIT_MS }).toBe(1);
    await open(alice, 'web-carol');
    await send(alice, 'hello carol from the browser');
    await carol.see('web-alice: hello carol from the browser');
    carol.say('@web-alice hi alice from the terminal');
    await carol.see(/you -> web-alice\(\d+\): hi alice from the terminal/);
    expect(await waitForLines(alice, false, 1)).toEqual(['hi alice from the terminal']);
    await open(bob, 'Everyone online');
    carol.say('group hello from the terminal');
    await carol.see('you -> all: group hello from the terminal');
    expect(await waitForLines(bob, false, 4)).toContain('group hello from the terminal');
    await send(bob, 'group reply from bob');
    await carol.see('web-bob: group reply from bob');
    // Group messages are live only: the 3 sent before carol logged in never reach her.
    expect(carol.stdout.text.match(/web-alice: /g)).toHaveLength(1);
    expect(carol.stdout.text.match(/web-bob: /g)).toHaveLength(1);
    expect(carolId).toBeGreaterThan(0);

    // Kill the server holding alice's connection: reconnecting, then ready again on the other server.
    const server = await alice.locator('#conn-state').getAttribute('data-server');
    const victim = cluster.servers.find((s) => server === `127.0.0.1:${s.httpPort}`);
    expect(victim, `alice's server ${server}`).toBeDefined();
    // Records every state the page shows from here on (a string: this project's tsconfig has no DOM types).
    await alice.evaluate(`(() => {
      const el = document.getElementById('conn-state');
      window.seenStates = [];
      new MutationObserver(() => window.seenStates.push(el.dataset.state)).observe(el, { attributes: true, attributeFilter: ['data-state'] });
    })()`);
    await victim!.kill('SIGKILL');
    await expectState(alice, 'reconnecting');
    await alice.screenshot({ path: join(ARTIFACTS, 'reconnecting-1280x800.png') });
    await expectState(alice, 'ready');
    const states = (await alice.evaluate('window.seenStates')) as string[];
    expect(states[0]).toBe('reconnecting');
    expect(states.at(-1)).toBe('ready');
    expect(await alice.locator('#conn-state').getAttribute('data-server')).not.toBe(server);
    // bob may have been on the same server: wait until he is back too, then chat both ways again.
    await expectState(bob, 'ready');
    await open(alice, 'web-bob');
    await open(bob, 'web-alice');
    await send(alice, 'after the crash, alice');
    await send(bob, 'after the crash, bob');
    await expect.poll(() => lines(bob, false), { timeout: WAIT_MS }).toEqual(['private alice to bob 1', 'private alice to bob 2', 'after the crash, alice']);
    await expect.poll(() => lines(alice, false), { timeout: WAIT_MS }).toEqual(['private bob to alice 1', 'private bob to alice 2', 'private bob to alice 3', 'after the crash, bob']);
    await expect.poll(() => marks(alice), { timeout: WAIT_MS }).toEqual(['read', 'read', 'read']);

    await alice.setViewportSize({ width: 390, height: 844 });
    await alice.screenshot({ path: join(ARTIFACTS, 'chat-after-crash-390x844.png') });
    await bob.setViewportSize({ width: 1280, height: 800 });
    await bob.screenshot({ path: join(ARTIFACTS, 'chat-after-crash-1280x800.png') });

    // Log out and in again with the password (log in, not sign up); a wrong password is refused in the form.
    await bob.getByRole('button', { name: 'Log out' }).click();
    await bob.getByLabel('Name').fill('web-bob');
    await bob.getByLabel('Password').fill('not-the-password');
    await bob.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => bob.getByRole('alert').first().textContent(), { timeout: WAIT_MS }).toBe('Wrong name or password.');
    await bob.screenshot({ path: join(ARTIFACTS, 'login-error-1280x800.png') });
    await bob.getByLabel('Password').fill(PASSWORD);
    await bob.getByRole('button', { name: 'Log in' }).click();
    await expectState(bob, 'ready');
    // A fresh login has an empty page and an empty inbox (all acknowledged): the conversation with alice comes
    // back from the server's history, both directions, each message once, in the order it was sent.
    await open(bob, 'web-alice');
    await expect.poll(() => lines(bob, false), { timeout: WAIT_MS }).toEqual(['private alice to bob 1', 'private alice to bob 2', 'after the crash, alice']);
    expect(await lines(bob, true)).toEqual(['private bob to alice 1', 'private bob to alice 2', 'private bob to alice 3', 'after the crash, bob']);
    const all = await bob.locator('#messages li .text').allTextContents();
    expect(all.slice(0, 5)).toEqual(['private bob to alice 1', 'private bob to alice 2', 'private bob to alice 3', 'private alice to bob 1', 'private alice to bob 2']);
    expect([...all.slice(5)].sort()).toEqual(['after the crash, alice', 'after the crash, bob']); // sent at once: either order
    await bob.screenshot({ path: join(ARTIFACTS, 'history-after-login-1280x800.png') });
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('named groups: one page creates a group, another joins it by id, 3 each way in order; a non-member gets 0; history after log in', async () => {
    const gina = await openPage(1280, 800);
    const hugo = await openPage(390, 844);
    const ivan = await openPage(1280, 800);
    await signUp(gina, 'web-gina');
    await signUp(hugo, 'web-hugo');
    await signUp(ivan, 'web-ivan');

    // gina creates the group with the keyboard: the panel's first field has the focus, Enter submits.
    await gina.getByRole('button', { name: '+ Group' }).click();
    await gina.keyboard.type('web-team');
    await gina.keyboard.press('Enter');
    await expect.poll(() => gina.locator('#room-title').textContent(), { timeout: WAIT_MS }).toBe('web-team');
    const groupId = await gina.locator('#room-info').getAttribute('data-group-id');
    expect(groupId).toMatch(/^[1-9]\d*$/);
    expect(await gina.getByRole('button', { name: `web-team, group ${groupId}` }).getAttribute('data-group-id')).toBe(groupId);

    // hugo (phone width) joins it by the id gina's page shows.
    await hugo.getByRole('button', { name: '+ Group' }).click();
    await hugo.getByLabel('Group id to join').fill(groupId!);
    await hugo.screenshot({ path: join(ARTIFACTS, 'group-join-390x844.png') });
    await hugo.getByRole('button', { name: 'Join', exact: true }).click();
    await expect.poll(() => hugo.locator('#room-title').textContent(), { timeout: WAIT_MS }).toBe('web-team');
    expect(await hugo.locator('#group-panel').isHidden()).toBe(true);

    // gina → hugo, 3, with hugo in the group: each once, in order, none in "Everyone online".
    const fromGina = [1, 2, 3].map((i) => `team from gina ${i}`);
    const fromHugo = [1, 2, 3].map((i) => `team from hugo ${i}`);
    for (const text of fromGina) await send(gina, text);
    expect(await waitForLines(hugo, false, 3)).toEqual(fromGina);
    await expect.poll(() => marks(gina), { timeout: WAIT_MS }).toEqual(['sent', 'sent', 'sent']);
    // hugo → gina, 3, while gina looks at "Everyone online": unread 3 on the group, then read there.
    await open(gina, 'Everyone online');
    for (const text of fromHugo) await send(hugo, text);
    await expect.poll(() => unread(gina, 'web-team'), { timeout: WAIT_MS }).toBe(3);
    await expect.poll(() => marks(hugo), { timeout: WAIT_MS }).toEqual(['sent', 'sent', 'sent']);
    expect(await gina.locator('#messages li').count()).toBe(0);
    await open(gina, 'web-team');
    expect(await waitForLines(gina, false, 3)).toEqual(fromHugo);
    expect(await gina.locator('#messages li .text').allTextContents()).toEqual([...fromGina, ...fromHugo]);
    expect(await gina.getByRole('button', { name: /^web-team,/ }).locator('.badge').count()).toBe(0);
    expect(await hugo.locator('#messages li .text').allTextContents()).toEqual([...fromGina, ...fromHugo]);
    await gina.screenshot({ path: join(ARTIFACTS, 'group-1280x800.png') });
    await hugo.screenshot({ path: join(ARTIFACTS, 'group-390x844.png') });

    // ivan never joined: 0 of the 6. A private message sent after them is the barrier: once ivan has it,
    // the group messages would have come before it had they been pushed to him.
    await expect.poll(() => gina.getByRole('button', { name: /^web-ivan, online/ }).count(), { timeout: WAIT_MS }).toBe(1);
    await open(gina, 'web-ivan');
    await send(gina, 'private to ivan after the group');
    await expect.poll(() => unread(ivan, 'web-gina'), { timeout: WAIT_MS }).toBe(1);
    expect(await ivan.locator('#conversations button[data-group-id]').count()).toBe(0);
    expect(await ivan.locator('#messages li').count()).toBe(0); // "Everyone online", open since sign-up
    expect(await ivan.locator('#conversations .badge').allTextContents()).toEqual(['1']);

    // hugo logs out and in: an empty page lists the group again and shows its history, each message once, in order.
    await hugo.getByRole('button', { name: 'Log out' }).click();
    await hugo.getByLabel('Name').fill('web-hugo');
    await hugo.getByLabel('Password').fill(PASSWORD);
    await hugo.getByRole('button', { name: 'Log in' }).click();
    await expectState(hugo, 'ready');
    await open(hugo, 'web-team');
    await expect.poll(() => hugo.locator('#messages li .text').allTextContents(), { timeout: WAIT_MS }).toEqual([...fromGina, ...fromHugo]);
    expect(await lines(hugo, true)).toEqual(fromHugo);
    expect(await marks(hugo)).toEqual(['sent', 'sent', 'sent']);
    expect(await hugo.locator('#room-info').getAttribute('data-group-id')).toBe(groupId);
    await hugo.setViewportSize({ width: 1280, height: 800 });
    await hugo.screenshot({ path: join(ARTIFACTS, 'group-history-1280x800.png') });
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('with ?via=auto a page reachable to the servers connects to them directly, not through the relay, and chats', async () => {
    const relayed = async () => {
      const text = await (await fetch(`${cluster.routeUrl}/metrics`)).text();
      return Number(/^cim_route_relay_connections(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? NaN);
    };
    const viaRoute = await openPage(1280, 800);
    await signUp(viaRoute, 'web-relayed');
    expect(await viaRoute.locator('#conn-state').getAttribute('data-path')).toBe('relay');
    const before = await relayed();
    expect(before).toBeGreaterThanOrEqual(1); // at least this page's own relayed connection

    const direct = await openPage(390, 844);
    await signUp(direct, 'web-direct', '?via=auto');
    expect(await direct.locator('#conn-state').getAttribute('data-path')).toBe('direct');
    const server = await direct.locator('#conn-state').getAttribute('data-server');
    expect(cluster.servers.map((s) => `127.0.0.1:${s.httpPort}`)).toContain(server);
    expect(await relayed()).toBe(before); // the direct page added no relayed connection

    // Both ways, counted: 3 each, each seen once.
    await expect.poll(() => direct.getByRole('button', { name: /^web-relayed, online/ }).count(), { timeout: WAIT_MS }).toBe(1);
    await open(direct, 'web-relayed');
    for (let i = 1; i <= 3; i++) await send(direct, `direct to relayed ${i}`);
    await expect.poll(() => viaRoute.getByRole('button', { name: /^web-direct,/ }).count(), { timeout: WAIT_MS }).toBe(1);
    await open(viaRoute, 'web-direct');
    expect(await waitForLines(viaRoute, false, 3)).toEqual(['direct to relayed 1', 'direct to relayed 2', 'direct to relayed 3']);
    for (let i = 1; i <= 3; i++) await send(viaRoute, `relayed to direct ${i}`);
    expect(await waitForLines(direct, false, 3)).toEqual(['relayed to direct 1', 'relayed to direct 2', 'relayed to direct 3']);
    await expect.poll(() => marks(direct), { timeout: WAIT_MS }).toEqual(['read', 'read', 'read']);
    await direct.screenshot({ path: join(ARTIFACTS, 'direct-390x844.png') });
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
