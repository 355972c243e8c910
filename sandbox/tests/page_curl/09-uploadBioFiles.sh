curl --location \
--request POST 'https://api.preventor.id/v1/workflow/enroll/user/<user-id>/upload' \
--header 'x-api-key: <api-key>' \
--header 'Authorization: Bearer <your-bearer-token>' \
--header 'x-tenant: <tenant-name>' \
--header 'x-ip: <request-client-ip>' \
--header 'x-env: <request-tenant-env>' \
--header 'x-banknu: <request-tenant-banknu>' \
--header 'Content-Type: application/json' \
--data-raw '{
"portraits": {
"picture1": "<base-64-picture>",
"picture2": "<base-64-picture>"
},
"documents": {
"picture1": "<base-64-picture>",
"picture2": "<base-64-picture>"
}
}'
