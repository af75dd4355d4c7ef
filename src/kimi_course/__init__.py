"""kimi_course: the course engine - workspaces, grading, quizzes, progress and course verification."""
