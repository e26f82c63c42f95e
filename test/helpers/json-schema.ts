/**
 * A small JSON Schema (2020-12) validator for the keywords the schemas in schema/ use: type (with integer and null),
 * const, enum, properties, required, additionalProperties (false or a schema), minimum, maximum, minLength, pattern,
 * items, minItems, if/then/else and local $ref. Annotation keywords (format, description, content*) are ignored.
 * It throws on any other assertion keyword, so a schema cannot silently use one it does not check.
 */
export type Schema = Record<string, unknown>;

const KNOWN = new Set([
  '$schema', '$id', '$defs', '$ref', 'title', 'description', 'format', 'contentEncoding', 'contentMediaType',
  'type', 'const', 'enum', 'properties', 'required', 'additionalProperties', 'minimum', 'maximum', 'minLength',
  'pattern', 'items', 'minItems', 'if', 'then', 'else',
]);

export function validate(root: Schema, value: unknown, schema: Schema = root, path = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`json-schema helper: unsupported keyword ${k} at ${path}`);
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/$defs/', '');
    return validate(root, value, (root.$defs as Record<string, Schema>)[name]!, path);
  }
  const errors: string[] = [];
  const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (schema.type !== undefined) {
    const types = ([] as string[]).concat(schema.type as string | string[]);
    const ok = types.some((t) => (t === 'integer' ? Number.isInteger(value) : typeOf(value) === t));
    if (!ok) return [`${path}: expected ${types.join('|')}, got ${typeOf(value)}`];
  }
  if ('const' in schema && value !== schema.const) errors.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${path}: does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.items) value.forEach((v, i) => errors.push(...validate(root, v, schema.items as Schema, `${path}[${i}]`)));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errors.push(`${path}: missing ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errors.push(...validate(root, v, props[k], `${path}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property ${k}`);
      else if (typeof schema.additionalProperties === 'object') errors.push(...validate(root, v, schema.additionalProperties as Schema, `${path}.${k}`));
    }
  }
  if (schema.if) {
    const branch = validate(root, value, schema.if as Schema, path).length === 0 ? schema.then : schema.else;
    if (branch) errors.push(...validate(root, value, branch as Schema, path));
  }
  return errors;
}
