import { describe, expect, it } from 'vitest';
import { ensureTestTools, MissingTestToolError } from '../scripts/test-tools';

describe('npm test: the programs the tests drive', () => {
  it('when one is missing and cannot be installed from here, stops saying how to install it', () => {
    // No PATH: neither promtool nor apt-get is found. Any executable will do as the browser here.
    const withoutPath = { PATH: '', CHROMIUM_PATH: process.execPath };
    expect(() => ensureTestTools(() => undefined, withoutPath)).toThrow(MissingTestToolError);
    expect(() => ensureTestTools(() => undefined, withoutPath)).toThrow(
      'the metrics tests need promtool on the PATH, and it is not there: ' +
        'install `sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus`; then run `npm test` again.',
    );
  });

  it('leaves a Chromium chosen with CHROMIUM_PATH to the user', () => {
    const chosen = { PATH: process.env.PATH, CHROMIUM_PATH: '/nonexistent/chrome' };
    expect(() => ensureTestTools(() => undefined, chosen)).toThrow(
      "the browser tests need Chromium at /nonexistent/chrome, and it is not there: point CHROMIUM_PATH at a Chromium or Chrome binary (or unset it to use Debian's chromium); then run `npm test` again.",
    );
  });
});
