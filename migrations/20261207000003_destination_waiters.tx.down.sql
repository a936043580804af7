DROP TABLE destination_waiters;
