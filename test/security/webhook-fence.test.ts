import { describe, expect, it } from 'vitest';
import { OutboundPolicy, RefusedTargetError } from '@sluice/jobs/handlers';

/**
 * The fence, address by address: each spelling as a URL's host, judged as the handler judges it
 * (the URL parser's canonical form, then the policy), with nothing on the allow-list.
 */
const REFUSED = [
  '127.0.0.1', '127.1', '2130706433', '0x7f000001', '0177.0.0.1', '0x7f.0.0.1', '127.255.255.254', '[::1]', '[0:0:0:0:0:0:0:1]',
  '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[0::ffff:127.0.0.1]', '[::127.0.0.1]', '[64:ff9b::127.0.0.1]', '[2002:7f00:1::]',
  '0.0.0.0', '0', '[::]', '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.1.1', '[::ffff:192.168.1.1]',
  '100.64.0.1', '100.127.255.255', '169.254.169.254', '[fe80::1]', '[::ffff:169.254.169.254]', '[::ffff:a9fe:a9fe]', '[fd00:ec2::254]',
  '[fc00::1]', '224.0.0.1', '239.255.255.250', '255.255.255.255', '240.0.0.1', '198.18.0.1', '192.0.2.1', '[ff02::1]', '[2001:db8::1]',
  '[2001:0:4136:e378:8000:63bf:3fff:fdd2]', '[fec0::1]', '[64:ff9b:1::a00:1]',
];
const ALLOWED = [
  '8.8.8.8', '1.1.1.1', '93.184.216.34', '172.15.255.255', '172.32.0.1', '192.169.0.1', '100.63.255.255', '100.128.0.1', '11.0.0.1',
  '126.255.255.255', '128.0.0.1', '169.253.255.255', '[2606:4700:4700::1111]', '[2001:4860:4860::8888]', '[::ffff:8.8.8.8]',
  '[64:ff9b::8.8.8.8]', '[2002:808:808::1]',
];

describe('the outbound fence, closed by default', () => {
  const policy = new OutboundPolicy([]);
  const judge = (host: string): string => {
    const literal = new URL(`http://${host}/`).hostname.replace(/^\[|\]$/g, '');
    try {
      policy.checkAddress(literal, host);
      return 'allowed';
    } catch (error) {
      expect(error).toBeInstanceOf(RefusedTargetError);
      return 'refused';
    }
  };

  it('covers at least 40 spellings', () => {
    expect(REFUSED.length + ALLOWED.length).toBeGreaterThanOrEqual(40);
  });
  it.each(REFUSED)('refuses %s', (host) => expect(judge(host)).toBe('refused'));
  it.each(ALLOWED)('allows %s', (host) => expect(judge(host)).toBe('allowed'));

  it('lets WEBHOOK_ALLOWED_HOSTS widen it to a private range, but never to link-local', () => {
    const widened = new OutboundPolicy(['10.0.0.0/8', '169.254.0.0/16', 'internal.example']);
    expect(() => widened.checkAddress('10.1.2.3', '10.1.2.3')).not.toThrow();
    expect(() => widened.checkAddress('::ffff:10.1.2.3', 'mapped')).not.toThrow();
    expect(() => widened.checkAddress('192.168.0.1', 'internal.example')).not.toThrow();
    expect(() => widened.checkAddress('192.168.0.1', '192.168.0.1')).toThrow(RefusedTargetError);
    expect(() => widened.checkAddress('169.254.169.254', '169.254.169.254')).toThrow('is link-local; such addresses are never called');
  });
});
