import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as v from 'valibot';
import {
  ClientMsgIdSchema,
  DisplayNameSchema,
  MessageBodySchema,
  RoomNameSchema,
} from '../shared/schemas.ts';

const ok = (schema: v.GenericSchema, value: unknown) => v.safeParse(schema, value).success;

describe('shared input rules', () => {
  it('refuses names that could pass for something else or break storage', () => {
    for (const schema of [DisplayNameSchema, RoomNameSchema]) {
      assert.equal(ok(schema, 'Bob B.'), true);
      assert.equal(ok(schema, 'Zoë 👋🏽'), true);
      for (const bad of [
        'abc \u202e gnp.exe',
        'x\u2066y',
        'a\u0000b',
        'tab\there',
        '\ud800',
        '   ',
        '',
      ]) {
        assert.equal(ok(schema, bad), false, JSON.stringify(bad));
      }
    }
  });

  it('takes message bodies of 1 to 4000 code points with tabs and line breaks only', () => {
    assert.equal(ok(MessageBodySchema, 'one\ntwo\r\n\tthree'), true);
    assert.equal(ok(MessageBodySchema, '👋'.repeat(4000)), true);
    assert.equal(ok(MessageBodySchema, '👋'.repeat(4001)), false);
    assert.equal(ok(MessageBodySchema, 'שלום \u200f(RTL mark) ok'), true);
    for (const bad of [
      '',
      ' \n\t ',
      '\u200b\u200b',
      'bell\u0007',
      'nul\u0000',
      'del\u007f',
      'csi\u009b',
      'invoice_\u202efdp.exe',
      'lone \udc00',
    ]) {
      assert.equal(ok(MessageBodySchema, bad), false, JSON.stringify(bad));
    }
  });

  it('takes clientMsgIds of 1 to 64 URL-safe characters', () => {
    assert.equal(ok(ClientMsgIdSchema, 'a:b.c-d_e'), true);
    assert.equal(ok(ClientMsgIdSchema, 'x'.repeat(64)), true);
    for (const bad of ['', 'x'.repeat(65), 'has space', 'slash/', 7]) {
      assert.equal(ok(ClientMsgIdSchema, bad), false, JSON.stringify(bad));
    }
  });
});
