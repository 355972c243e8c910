// Cross-language smoke test: the published TypeScript fetch client (openapi-generator
// typescript-fetch), installed with npm from the bundle's package, obtains a compliance token
// from the sandbox, creates a customer and reads it back. Compiled with tsc --strict, run with
// Node: node smoke.js <sandbox base URL>
import { AuthenticationApi, Configuration, CustomerApi, RequestType } from "@preventor/compliance-fetch";

// The two members of Node's `process` used here (no @types/node needed).
declare const process: { argv: string[]; exit(code: number): never };

const base = process.argv[2];
const tenant: Record<string, string> = {
  "x-api-key": "sandbox-api-key",
  "x-tenant": "sandbox",
  "x-env": "test",
  "x-banknu": "1",
};
const apiKey = (name: string): string => tenant[name.toLowerCase()] ?? "";

async function main(): Promise<void> {
  const auth = new AuthenticationApi(
    new Configuration({ basePath: base, username: "sandbox-client", password: "sandbox-client-secret", apiKey }),
  );
  const token = await auth.oauthToken({
    grantType: "password",
    username: "user@example.com",
    password: "sandbox-password",
    scope: "read",
  });
  const customers = new CustomerApi(new Configuration({ basePath: base, accessToken: token.accessToken, apiKey }));
  await customers.customerOnboarding({
    customer: { requestType: RequestType.A, id: "ts-smoke-1", firstName: "GRACE", lastName: "HOPPER" },
    xLang: "en",
  });
  // typescript-fetch sends a form as multipart only when a part is binary; getCustomer is
  // multipart/form-data (as the page's curl sends it), so send the same part as FormData.
  const form = new FormData();
  form.append("cifCod", "ts-smoke-1");
  const stored = await customers.getCustomer({ cifCod: "ts-smoke-1" }, async ({ init }) => {
    const headers = { ...(init.headers as Record<string, string>) };
    delete headers["Content-Type"];
    return { body: form, headers };
  });
  if (stored.id !== "ts-smoke-1" || stored.firstName !== "GRACE" || stored.lastName !== "HOPPER") {
    throw new Error(`unexpected customer ${JSON.stringify(stored)}`);
  }
  console.log("typescript-fetch client: token, customerOnboarding, getCustomer: ok");
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
