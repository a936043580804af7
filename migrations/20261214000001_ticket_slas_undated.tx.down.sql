DROP INDEX ticket_slas_undated;
