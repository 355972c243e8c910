// Starts `prism mock` on an OpenAPI document, sends every example request of the document
// (each must be accepted with a 2xx) and a set of broken requests (each must be rejected with
// a 4xx): missing required field, wrong type, missing tenant header, wrong content type.
//
// usage: node prism-check.mjs <document.yaml> <port>
// Exit status 0 when every expectation holds; every failure is printed.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";

const [file, portArg] = process.argv.slice(2);
if (!file || !portArg) {
  console.error("usage: node prism-check.mjs <document.yaml> <port>");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const doc = yaml.load(readFileSync(file, "utf8"));
const base = `http://127.0.0.1:${portArg}`;

const resolve = (node) => {
  if (node && node.$ref) {
    return node.$ref
      .slice(2)
      .split("/")
      .reduce((n, k) => n[k.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
  }
  return node;
};

const TENANT = { "x-api-key": "key-1", "x-tenant": "tenant-1", "x-env": "env-1", "x-banknu": "banknu-1" };

function authHeader(op) {
  const security = op.security ?? doc.security ?? [];
  const schemes = Object.keys(security[0] ?? {}).map((name) => doc.components.securitySchemes[name]);
  const http = schemes.find((s) => s.type === "http");
  if (!http) return {};
  return { authorization: http.scheme === "basic" ? "Basic " + Buffer.from("user:secret").toString("base64") : "Bearer token-1" };
}

function exampleOf(media) {
  if (!media) return undefined;
  if (media.example !== undefined) return media.example;
  const first = Object.values(media.examples ?? {})[0];
  return first ? resolve(first).value : undefined;
}

function encode(contentType, body) {
  if (contentType === "application/json") return JSON.stringify(body);
  if (contentType === "application/x-www-form-urlencoded") return new URLSearchParams(body).toString();
  if (contentType === "multipart/form-data") {
    const form = new FormData();
    for (const [k, v] of Object.entries(body)) form.append(k, String(v));
    return form;
  }
  throw new Error(`no encoder for ${contentType}`);
}

function pathOf(template, params) {
  return template.replace(/\{(\w+)\}/g, (_, name) => {
    const p = params.find((x) => x.name === name && x.in === "path");
    if (!p) throw new Error(`no example for path parameter ${name}`);
    return encodeURIComponent(p.example ?? p.schema.example);
  });
}

function wrongType(schema) {
  const s = resolve(schema) ?? {};
  const sub = s.allOf ? resolve(s.allOf[0]) : s;
  return sub.type === "string" ? 12345 : "not-a-" + (sub.type ?? "value");
}

const cases = [];
for (const [template, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    const params = (op.parameters ?? []).map(resolve);
    const path = pathOf(template, params);
    const headers = { ...TENANT, ...authHeader(op) };
    const body = op.requestBody ? resolve(op.requestBody) : undefined;
    const [contentType, media] = body ? Object.entries(body.content)[0] : [];
    const example = exampleOf(media);
    const id = op.operationId;
    const add = (name, expect, req) => cases.push({ name: `${id}: ${name}`, expect, method: method.toUpperCase(), path, ...req });
    add("example request", "accept", { headers, contentType, body: example });
    const noTenant = { ...headers };
    delete noTenant["x-tenant"];
    add("missing x-tenant header", "reject", { headers: noTenant, contentType, body: example });
    if (body) {
      const schema = resolve(media.schema);
      const required = schema.required ?? [];
      if (required.length) {
        const broken = { ...example };
        delete broken[required[0]];
        add(`missing required field ${required[0]}`, "reject", { headers, contentType, body: broken });
        const typed = { ...example, [required[0]]: wrongType(schema.properties[required[0]]) };
        if (contentType === "application/json") {
          add(`wrong type for ${required[0]}`, "reject", { headers, contentType, body: typed });
        }
      }
      add("wrong content type (text/plain)", "reject", { headers, contentType: "text/plain", raw: "not the documented body" });
    }
  }
}

async function send(c) {
  const headers = { ...c.headers };
  let payload;
  if (c.raw !== undefined) {
    headers["content-type"] = c.contentType;
    payload = c.raw;
  } else if (c.body !== undefined) {
    payload = encode(c.contentType, c.body);
    if (!(payload instanceof FormData)) headers["content-type"] = c.contentType;
  }
  const response = await fetch(base + c.path, { method: c.method, headers, body: payload });
  const text = await response.text();
  return { status: response.status, text, violations: response.headers.get("sl-violations") };
}

async function waitForPrism(child) {
  for (let i = 0; i < 120; i++) {
    if (child.exitCode !== null) throw new Error(`prism exited with ${child.exitCode}`);
    try {
      await fetch(base + "/", { method: "OPTIONS" });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error("prism did not start within 30 s");
}

const prism = spawn(join(here, "node_modules/.bin/prism"), ["mock", "-h", "127.0.0.1", "-p", portArg, "--errors", file], {
  stdio: ["ignore", "ignore", "pipe"],
});
let failures = 0;
try {
  await waitForPrism(prism);
  for (const c of cases) {
    const r = await send(c);
    const ok = c.expect === "accept" ? r.status >= 200 && r.status < 300 : r.status >= 400 && r.status < 500;
    if (!ok) {
      failures++;
      console.log(`FAIL ${c.name}: expected ${c.expect}, got ${r.status} ${r.violations ?? ""} ${r.text.slice(0, 300)}`);
    } else {
      console.log(`ok   ${c.name} (${r.status})`);
    }
  }
} catch (e) {
  failures++;
  console.log(`FAIL ${file}: ${e.message}`);
} finally {
  prism.kill();
}
console.log(`${file}: ${cases.length} requests, ${failures} failures`);
process.exit(failures ? 1 : 0);
