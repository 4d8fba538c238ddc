import { describe, expect, it } from 'vitest';
import { isLoopbackHost, openApiRefusal } from '@sluice/core';

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.0.0.2', '127.1', 'localhost', 'LOCALHOST.', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '2130706433'])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '192.0.2.2', '10.0.0.1', '[fd00::2]', '::ffff:10.0.0.1', 'localhost.example.com', 'example.com', '128.0.0.1'])('%s is not', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('openApiRefusal', () => {
  const open = { apiKeys: [], allowOpenApi: false };

  it('refuses an API beyond loopback without keys, naming both ways out', () => {
    expect(openApiRefusal({ ...open, host: '0.0.0.0' })).toMatch(/^HOST=0\.0\.0\.0 .*API_KEYS is not set.*Set API_KEYS .*ALLOW_OPEN_API=1/);
  });

  it('lets it start with keys, with ALLOW_OPEN_API, or on loopback', () => {
    expect(openApiRefusal({ ...open, host: '0.0.0.0', apiKeys: ['k-0123456789abcdef'] })).toBeUndefined();
    expect(openApiRefusal({ ...open, host: '0.0.0.0', allowOpenApi: true })).toBeUndefined();
    expect(openApiRefusal({ ...open, host: '127.0.0.1' })).toBeUndefined();
  });
});
