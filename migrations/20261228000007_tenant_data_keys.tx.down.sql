DROP TABLE tenant_data_keys;
