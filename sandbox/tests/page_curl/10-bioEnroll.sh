curl --location \
--request GET 'https://api.preventor.id/v1/workflow/enroll/user/:userId/ticket/:ticket' \
--header 'x-api-key: <api-key>' \
--header 'Authorization: Bearer <your-bearer-token>' \
--header 'x-tenant: <tenant-name>' \
--header 'x-ip: <request-client-ip>' \
--header 'x-env: <request-tenant-env>' \
--header 'x-banknu: <request-tenant-banknu>' \
--header 'Content-Type: application/json' \
--data-raw '{
"userId": "<user-id>",
"ticket": "<ticket-id>"
}'
