curl --location --request POST 'https://api.preventor.com/onboarding/accountOnboarding' \
--header 'X-tenant: <tenant-name>' \
--header 'X-env: <env>' \
--header 'Authorization: Bearer <bearer-token>' \
--header 'X-banknu: <banknu>' \
--header 'X-lang: <lang>' \
--header 'X-tzone: <zone>' \
--header 'Content-Type: application/json' \
--header 'User-Agent: <user-agent>' \
--header 'X-Real-IP: <real-ip>' \
--header 'x-api-key: <api-key>' \
--data-raw '{
"request_type": "A",
"product_code": "10",
"account_number": "PVTACC0000000001",
"account_type": "AT_XAU",
"id": "8adc1652-ad36-4234-846b-61d52cd1e2052",
"date_opened": "2020-05-13",
"date_closed": "2021-05-13",
"initial_deposit_amount": "20.00",
"initial_deposit_type": "DEP",
"account_name": "Account XAU",
"account_status": "1",
"account_currency": "XAU",
"account_balance": "0.00",
"routing_number": "1000000101",
"bank_name": "Bank name"
}'
