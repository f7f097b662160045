// A form made from a JSON schema (as pydantic writes them): one input per property, chosen by its
// type, so a framework's options or the job spec need no hand-written form. Enums become selects,
// booleans checkboxes, numbers number inputs with their bounds, nested objects fieldsets, and
// anything else (free-form objects, arrays, unions) JSON text. Descriptions, bounds and defaults
// are shown; a value left at its default is not sent, so the server's default applies.

import { el } from "./ui.js";

// Follows `$ref` into the root's `$defs`, and unwraps a single `allOf`.
export function resolve(schema, root) {
  let node = schema || {};
  for (let depth = 0; depth < 10; depth += 1) {
    if (node.$ref) {
      const name = node.$ref.split("/").pop();
      const { $ref, ...rest } = node;
      node = { ...(root?.$defs?.[name] || {}), ...rest };
    } else if (Array.isArray(node.allOf) && node.allOf.length === 1) {
      const { allOf, ...rest } = node;
      node = { ...allOf[0], ...rest };
    } else {
      break;
    }
  }
  return node;
}

// `X | None` as pydantic writes it: anyOf [X, {type: null}]. Answers X and whether null is allowed.
function unwrapNullable(schema, root) {
  const node = resolve(schema, root);
  const branches = node.anyOf || node.oneOf;
  if (!Array.isArray(branches)) return { inner: node, nullable: node.type === "null" };
  const others = branches.filter((b) => b.type !== "null");
  if (others.length !== 1) return { inner: node, nullable: others.length < branches.length };
  const { anyOf, oneOf, ...outer } = node;
  return { inner: { ...resolve(others[0], root), ...outer }, nullable: true };
}

function kindOf(inner) {
  if (Array.isArray(inner.enum) || inner.const !== undefined) return "enum";
  if (inner.type === "boolean") return "boolean";
  if (inner.type === "integer" || inner.type === "number") return "number";
  if (inner.type === "string") return "string";
  if (inner.type === "object" && inner.properties) return "object";
  return "json";
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function boundsText(inner) {
  const bits = [];
  if (inner.minimum !== undefined) bits.push(`≥ ${inner.minimum}`);
  if (inner.exclusiveMinimum !== undefined) bits.push(`> ${inner.exclusiveMinimum}`);
  if (inner.maximum !== undefined) bits.push(`≤ ${inner.maximum}`);
  if (inner.exclusiveMaximum !== undefined) bits.push(`< ${inner.exclusiveMaximum}`);
  if (inner.minLength) bits.push(`at least ${inner.minLength} characters`);
  if (inner.maxLength !== undefined) bits.push(`at most ${inner.maxLength} characters`);
  if (inner.pattern) bits.push(`pattern ${inner.pattern}`);
  return bits.join(", ");
}

function helpText(inner, hasDefault) {
  const bits = [];
  if (inner.description) bits.push(inner.description);
  const bounds = boundsText(inner);
  if (bounds) bits.push(bounds);
  if (hasDefault) bits.push(`default ${inner.default === null ? "unset" : JSON.stringify(inner.default)}`);
  return bits.join(" · ");
}

// One field's frame: label, input, help, and the slot the server's message for it goes into
// (the input is labelled and described by them).
export function frame(path, label, input, help, { inline = false, required = false } = {}) {
  const error = el("div", { class: "field-error", role: "alert", hidden: true, id: `error-${path}` });
  if (["INPUT", "SELECT", "TEXTAREA"].includes(input.tagName)) {
    input.id = `field-${path}`;
    input.setAttribute("aria-describedby", error.id);
  }
  const node = el(
    "div",
    { class: `form-field${inline ? " inline" : ""}`, dataset: { field: path } },
    el("label", { class: "form-label", for: `field-${path}` }, inline ? input : null, el("span", { class: "mono" }, label), required ? el("span", { class: "required", title: "required" }, " *") : null),
    inline ? null : input,
    help ? el("small", { class: "help" }, help) : null,
    error,
  );
  const setError = (message) => {
    error.textContent = message || "";
    error.hidden = !message;
    node.classList.toggle("has-error", Boolean(message));
  };
  return { node, setError };
}

// `empty`: the label of a first, empty choice (a nullable or required enum), or none.
function enumInput(inner, empty, initial, name) {
  const values = Array.isArray(inner.enum) ? inner.enum : [inner.const];
  const nullable = Boolean(empty);
  const select = el(
    "select",
    { name },
    nullable ? el("option", { value: "" }, empty) : null,
    values.map((value, i) => el("option", { value: String(i), selected: same(value, initial) }, String(value))),
  );
  if (nullable && (initial === null || initial === undefined)) select.value = "";
  return { input: select, get: () => (select.value === "" ? null : values[Number(select.value)]) };
}

function numberInput(inner, initial, name) {
  const min = inner.minimum ?? inner.exclusiveMinimum;
  const max = inner.maximum ?? inner.exclusiveMaximum;
  const input = el("input", {
    type: "number",
    name,
    step: inner.type === "integer" ? "1" : "any",
    min,
    max,
    value: initial === null || initial === undefined ? "" : String(initial),
  });
  return {
    input,
    get: () => {
      if (input.value.trim() === "") return input.validity.badInput ? { invalid: "not a number" } : null;
      return Number(input.value);
    },
  };
}

function stringInput(inner, initial, name) {
  const input = el("input", {
    type: "text",
    name,
    maxlength: inner.maxLength,
    spellcheck: "false",
    value: initial === null || initial === undefined ? "" : String(initial),
  });
  return { input, get: () => (input.value === "" ? null : input.value) };
}

function jsonInput(initial, name) {
  const text = initial === null || initial === undefined ? "" : JSON.stringify(initial, null, 2);
  const input = el("textarea", { name, rows: String(Math.min(8, Math.max(2, text.split("\n").length))), spellcheck: "false", class: "mono" });
  input.value = text;
  return {
    input,
    get: () => {
      if (input.value.trim() === "") return null;
      try {
        return JSON.parse(input.value);
      } catch {
        return { invalid: "not valid JSON" };
      }
    },
  };
}

const isInvalid = (value) => value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && "invalid" in value;

// A form for the properties of an object schema.
//   root: the document holding `$defs`; prefix: the field path of this object (`options`);
//   values: what to prefill (else each default); only/skip: which properties to render;
//   suggestions: {path: [values]} offered on text inputs (a datalist).
// Answers {node, read(problems), fields}: read() gives the object to send (properties left at
// their defaults left out) and adds {path, message} to `problems` for what cannot be read;
// fields maps each field path to {node, setError}.
export function schemaForm(schema, { root = schema, prefix = "", values = {}, only = null, skip = [], suggestions = {} } = {}) {
  const fields = new Map();
  const node = el("div", { class: "schema-form" });
  const object = resolve(schema, root);
  const required = new Set(object.required || []);
  const readers = [];

  for (const [name, property] of Object.entries(object.properties || {})) {
    if ((only && !only.includes(name)) || skip.includes(name)) continue;
    const path = prefix ? `${prefix}.${name}` : name;
    const { inner, nullable } = unwrapNullable(property, root);
    const hasDefault = "default" in property || "default" in inner;
    const fallback = "default" in property ? property.default : inner.default;
    const given = values && name in values ? values[name] : undefined;
    const initial = given !== undefined ? given : fallback;
    const kind = kindOf(inner);
    const isRequired = required.has(name);

    if (kind === "object") {
      const nested = schemaForm(inner, { root, prefix: path, values: initial || {}, suggestions });
      nested.fields.forEach((handle, key) => fields.set(key, handle));
      const toggle = nullable ? el("input", { type: "checkbox", name: path, checked: initial !== null && initial !== undefined }) : null;
      const error = el("div", { class: "field-error", role: "alert", hidden: true });
      const set = el(
        "fieldset",
        { class: "form-group", dataset: { field: path } },
        el("legend", {}, el("label", {}, toggle, el("span", { class: "mono" }, name))),
        inner.description ? el("small", { class: "help" }, inner.description) : null,
        error,
        nested.node,
      );
      const sync = () => {
        nested.node.hidden = Boolean(toggle && !toggle.checked);
      };
      toggle?.addEventListener("change", sync);
      sync();
      fields.set(path, {
        node: set,
        setError: (message) => {
          error.textContent = message || "";
          error.hidden = !message;
          set.classList.toggle("has-error", Boolean(message));
        },
      });
      node.append(set);
      readers.push((out, problems) => {
        if (toggle && !toggle.checked) return;
        const value = nested.read(problems);
        if (toggle || Object.keys(value).length || isRequired) out[name] = value;
      });
      continue;
    }

    let control;
    if (kind === "enum") control = enumInput(inner, hasDefault ? nullable && "(default)" : "(choose)", initial, path);
    else if (kind === "number") control = numberInput(inner, initial, path);
    else if (kind === "string") control = stringInput(inner, initial, path);
    else if (kind === "json") control = jsonInput(initial, path);

    if (kind === "boolean") {
      const input = el("input", { type: "checkbox", name: path, checked: Boolean(initial) });
      control = { input, get: () => input.checked };
    }
    if (suggestions[path] && kind === "string") {
      const list = el("datalist", { id: `suggest-${path.replace(/[^a-z0-9]/gi, "-")}` }, suggestions[path].map((value) => el("option", { value })));
      control.input.setAttribute("list", list.id);
      node.append(list);
    }
    const handle = frame(path, name, control.input, helpText(inner, hasDefault), { inline: kind === "boolean", required: isRequired });
    fields.set(path, handle);
    node.append(handle.node);
    readers.push((out, problems) => {
      const value = control.get();
      if (isInvalid(value)) {
        problems.push({ field: path, message: value.invalid });
        return;
      }
      if (value === null && !isRequired) {
        if (hasDefault && fallback !== null && fallback !== undefined) out[name] = null; // cleared on purpose
        return;
      }
      if (!isRequired && hasDefault && same(value, fallback)) return;
      out[name] = value;
    });
  }

  const read = (problems = []) => {
    const out = {};
    readers.forEach((reader) => reader(out, problems));
    return out;
  };
  return { node, read, fields };
}
