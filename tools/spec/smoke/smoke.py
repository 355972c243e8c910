"""Cross-language smoke test: the published Python client (openapi-python-client), pip-installed
from the bundle, obtains a compliance token from the sandbox, creates a customer and reads it back.

usage: python smoke.py <sandbox base URL>
"""
import base64
import sys

BASE = sys.argv[1]

from preventor_compliance import AuthenticatedClient
from preventor_compliance.api.authentication import oauth_token
from preventor_compliance.api.customer import customer_onboarding, get_customer
from preventor_compliance.models import Customer, GetCustomerForm, OAuthToken, RequestType, TokenRequest

TENANT = {"x-api-key": "sandbox-api-key", "x-tenant": "sandbox", "x-env": "test", "x-banknu": "1"}
basic = base64.b64encode(b"sandbox-client:sandbox-client-secret").decode()

token_client = AuthenticatedClient(base_url=BASE, token=basic, prefix="Basic", headers=TENANT)
token = oauth_token.sync(
    client=token_client,
    body=TokenRequest(grant_type="password", username="user@example.com", password="sandbox-password", scope="read"),
)
assert isinstance(token, OAuthToken), f"token call failed: {token!r}"

client = AuthenticatedClient(base_url=BASE, token=token.access_token, headers=TENANT)
ack = customer_onboarding.sync_detailed(
    client=client,
    body=Customer(request_type=RequestType.A, id="py-smoke-1", first_name="ADA", last_name="LOVELACE"),
    x_lang="en",
)
assert ack.status_code == 200, f"customerOnboarding: {ack.status_code} {ack.content!r}"

customer = get_customer.sync(client=client, body=GetCustomerForm(cif_cod="py-smoke-1"))
assert isinstance(customer, Customer), f"getCustomer failed: {customer!r}"
assert (customer.id, customer.first_name, customer.last_name) == ("py-smoke-1", "ADA", "LOVELACE"), customer
print("python client: token, customerOnboarding, getCustomer: ok")
