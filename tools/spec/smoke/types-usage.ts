// The published TypeScript types (openapi-typescript) describe a customer request that a
// TypeScript team can build and type-check (tsc --noEmit --strict).
import type { components, paths } from "./compliance";

type Customer = components["schemas"]["Customer"];
type CreateBody = paths["/onboarding/customerOnboarding"]["post"]["requestBody"]["content"]["application/json"];

const customer: Customer = {
  request_type: "A",
  id: "8adc1652-ad36-4234-846b-61d52cd1e2052",
  first_name: "JOHN",
  iddocuments: [{ id: 1, request_type: "A", doc_type: 6, doc_number: "B207680293231", doc_issued_date: "2018-01-26" }],
};
const body: CreateBody = customer;
const amount: components["schemas"]["MonetaryTransaction"]["trans_amount"] = "150803.247745453";
export { body, amount };
