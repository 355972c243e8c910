curl --location --request POST 'https://api.preventor.com/onboarding/registerMonetaryTransaction' \
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
"id":"8adc1652-ad36-4234-846b-61d52cd1e2052",
"routing_number":"10000014",
"product_code":"10",
"account_number":"PVTACC100002003400",
"account_balance_after_posting":"50.3336",
"account_balance_hold":"0.00",
"account_balance_available":"50.3336",
"account_balance_aggregate":"0.00",
"trans_posting_date":"2020-05-15T12:00:00.000Z",
"trans_effective_date":"2020-05-15T12:00:00.000Z",
"trans_code":"TT_001",
"trans_amount":"150803.247745453",
"trans_currency":"USD",
"trans_exchange_rate":"0.000166885",
"account_trans_amount": "25.1668",
"trans_base_rate":"0.2652",
"trans_base_amount": "40000.00",
"customer_trans_id":"100-203030253453-0-332",
"trans_reference":"ref0XAU1",
"trans_hash":"hash-ab-sda-12123-125",
"trans_ach_id":"ach-001",
"trans_description":"Transaction PVTACC100002003400 deposit 40000 USD",
"trans_cash":"0.00",
"trans_cash_back":"0.00",
"trans_no_cash":"0.00"
}'
