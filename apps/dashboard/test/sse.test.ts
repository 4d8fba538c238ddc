import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/api/sse';

describe('SseParser', () => {
  it('yields each event once its blank line has arrived, however the chunks fall', () => {
    const text = 'event: snapshot\ndata: {"a":1}\n\nevent: unavailable\ndata: {"message":"down"}\n\n';
    for (let cut = 1; cut < text.length; cut += 1) {
      const parser = new SseParser();
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      expect(events, `cut at ${cut}`).toEqual([
        { event: 'snapshot', data: '{"a":1}' },
        { event: 'unavailable', data: '{"message":"down"}' },
      ]);
    }
  });

  it('joins data lines, reads CRLF, names unnamed events "message" and skips comments', () => {
    const parser = new SseParser();
    expect(parser.push(': keep-alive\r\n\r\ndata: a\r\ndata: b\r\n\r\n')).toEqual([{ event: 'message', data: 'a\nb' }]);
  });
});
