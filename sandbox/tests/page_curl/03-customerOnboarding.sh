curl --location --request POST 'https://api.preventor.com/onboarding/customerOnboarding' \
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
"cif_status": "1",
"customer_flag": "Y",
"type_of_person": "P",
"full_name": "JOHN SMITH BROWN",
"first_name": "JOHN",
"middle_name": "SMITH",
"last_name": "BROWN",
"id": "8adc1652-ad36-4234-846b-61d52cd1e2052",
"cust_api_ref_id":"cu-xyz-abc-001",
"addresses": [
{
"id": 1,
"request_type": "A",
"address_type": 1,
"address_line1": "26 LINDA MAR DR",
"address_line2": "",
"address_state":"FL",
"address_city":"SAINT AUGUSTINE",
"address_zipcode": "32080-4900",
"address_country":"US",
"transaction_id": "cu-xyz-abc-001",
"address_primary_flag": "P"
}
],
"iddocuments":[
{
"id":1,
"request_type":"A",
"doc_type":6,
"doc_number":"B207680293231",
"doc_issued_country":"US",
"doc_issued_date": "2018-01-26",
"doc_expiration_date":"2026-09-27",
"doc_primary_flag":"P",
"transaction_id":"cu-xyz-abc-001"
}
],
"taxiddocuments":[
{
"id":1,
"request_type":"A",
"doc_type":6,
"doc_number":"B207680293230",
"doc_issued_country":"US",
"doc_issued_date": "2018-01-26",
"doc_expiration_date":"2026-09-27",
"doc_primary_flag":"P",
"transaction_id":"cu-xyz-abc-001"
}
],
"phones": [
{
"id": 1,
"request_type": "A",
"phone_number": "903923421",
"phone_country_prefix": "US",
"phone_primary_flag": "P",
"phone_type": 2
}
],
"emails": [
{
"id": 1,
"request_type": "A",
"email": "[email protected]",
"email_primary_flag": "P"
}
]
}'
