curl --location --request POST 'https://api.preventor.com/onboarding/customerMaintenance' \
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
"request_type": "U",
"id": "8adc1652-ad36-4234-846b-61d52cd1e2052",
"first_name": "JONATHAN"
}'
