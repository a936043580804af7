DROP INDEX actions_live;
