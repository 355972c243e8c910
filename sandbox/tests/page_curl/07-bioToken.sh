curl -u "<api-key>:<api-secret>" --location \
--request POST 'https://api.preventor.id/v1/auth/token' \
--header 'x-api-key: <api-key>' \
--header 'x-tenant: <tenant-name>' \
--header 'x-ip: <request-client-ip>' \
--header 'x-env: <request-tenant-env>' \
--header 'x-banknu: <request-tenant-banknu>' \
--header 'Content-Type: application/json' \
--data-raw '{
"transactionType": "ONBOARDING"
}'
