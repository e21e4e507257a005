// --override-kv parsing as llama-quantize's string_parse_kv_override does it (C's atol/atof for
// the numbers), the values llama_model_quantize writes, and the metadata its loader reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loaderMetadata, overrideValue, parseKvOverride } from '../../src/plan/kv-override.js';
import { gv } from '../../src/io/gguf/metadata.js';
import { LowbitError } from '../../src/errors.js';

test('parses KEY=TYPE:VALUE with C number parsing', () => {
  assert.deepEqual(parseKvOverride('a.b=int:42'), { key: 'a.b', type: 'int', value: 42n });
  assert.deepEqual(
    parseKvOverride('a=int:  -17xyz'),
    { key: 'a', type: 'int', value: -17n },
    'atol: leading space, trailing junk',
  );
  assert.deepEqual(parseKvOverride('a=int:junk'), { key: 'a', type: 'int', value: 0n });
  assert.deepEqual(
    parseKvOverride('a=int:99999999999999999999'),
    { key: 'a', type: 'int', value: (1n << 63n) - 1n },
    'clamped like strtol',
  );
  assert.deepEqual(parseKvOverride('a=float:1.5e3x'), { key: 'a', type: 'float', value: 1500 });
  assert.deepEqual(parseKvOverride('a=float:.25'), { key: 'a', type: 'float', value: 0.25 });
  assert.deepEqual(parseKvOverride('a=float:-INF'), { key: 'a', type: 'float', value: -Infinity });
  assert.deepEqual(parseKvOverride('a=float:0x1.8p1'), { key: 'a', type: 'float', value: 3 });
  assert.ok(Number.isNaN(parseKvOverride('a=float:nan').value as number));
  assert.deepEqual(parseKvOverride('a=float:abc'), { key: 'a', type: 'float', value: 0 });
  assert.deepEqual(parseKvOverride('a=bool:false'), { key: 'a', type: 'bool', value: false });
  assert.deepEqual(parseKvOverride('a=str:x=y:z'), { key: 'a', type: 'str', value: 'x=y:z' }, 'split at the first =');
  assert.deepEqual(parseKvOverride('a=str:'), { key: 'a', type: 'str', value: '' });
  for (const [arg, re] of [
    ['novalue', /malformed/],
    ['k'.repeat(128) + '=int:1', /malformed/],
    ['a=i32:1', /invalid type/],
    ['a=bool:yes', /invalid boolean/],
    ['a=str:' + 'é'.repeat(64), /longer than 127 bytes/],
    ['general.alignment=int:64', /cannot be overridden/],
  ] as [string, RegExp][]) {
    assert.throws(
      () => parseKvOverride(arg),
      (e: Error) => e instanceof LowbitError && re.test(e.message),
      arg,
    );
  }
});

test('written as llama_model_quantize writes them: f32, u32 of |int|, bool, string', () => {
  assert.deepEqual(overrideValue(parseKvOverride('a=float:0.1')), gv.f32(Math.fround(0.1)));
  assert.deepEqual(overrideValue(parseKvOverride('a=int:-7')), gv.u32(7));
  assert.deepEqual(overrideValue(parseKvOverride('a=int:4294967301')), gv.u32(5));
  assert.deepEqual(overrideValue(parseKvOverride('a=bool:true')), gv.bool(true));
  assert.deepEqual(overrideValue(parseKvOverride('a=str:hi')), gv.str('hi'));
});

test('the loader view: an override replaces a key of its own kind or adds a missing one, else the file value stays', () => {
  const m = new Map([
    ['n', gv.u32(8)],
    ['s', gv.str('x')],
    ['big', gv.u64(5n)],
    ['f', gv.f32(1)],
  ]);
  const v = loaderMetadata(
    m,
    ['n=int:3', 's=int:4', 'big=int:-1', 'f=float:2.5', 'new=int:-2', 'n2=str:y'].map(parseKvOverride),
  );
  assert.deepEqual(v.get('n'), gv.u32(3));
  assert.deepEqual(v.get('s'), gv.str('x'), 'an int override of a string key is ignored (llama.cpp warns)');
  assert.deepEqual(v.get('big'), gv.u64((1n << 64n) - 1n));
  assert.deepEqual(v.get('f'), gv.f64(2.5));
  assert.deepEqual(v.get('new'), gv.i32(-2));
  assert.deepEqual(v.get('n2'), gv.str('y'));
  assert.deepEqual(m.get('n'), gv.u32(8), 'the input metadata is not changed');
});
