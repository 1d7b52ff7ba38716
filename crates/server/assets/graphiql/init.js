// Bootstraps the embedded GraphiQL page (see index.html).
// Kept in its own file because the page's Content-Security-Policy is
// `script-src 'self'`: no inline scripts. Relies on the globals `React`,
// `ReactDOM` (react 18 UMD) and `GraphiQL` (graphiql 4 UMD) loaded before it.
(function () {
  'use strict';

  var wsScheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  var subscriptionUrl = wsScheme + '//' + window.location.host + '/graphql/ws';

  var fetcher = GraphiQL.createFetcher({
    url: '/graphql',
    subscriptionUrl: subscriptionUrl,
  });

  var defaultQuery = [
    '# Welcome to the Steward GraphQL API.',
    '#',
    '# Most fields need an access token. To get one:',
    '#',
    '# 1. Run this mutation (with the real password):',
    '#',
    '#    mutation {',
    '#      login(input: {',
    '#        login: "admin"',
    '#        password: "..."',
    '#      }) {',
    '#        accessToken',
    '#        errors { code message }',
    '#      }',
    '#    }',
    '#',
    '# 2. In the "Headers" tab below the editor, put',
    '#',
    '#    {"Authorization": "Bearer <token>"}',
    '#',
    '#    with <token> the accessToken from step 1.',
    '#',
    '# 3. Run the query below to see who you are.',
    '#',
    '# Ctrl-Enter runs, Ctrl-Space completes.',
    '',
    '{',
    '  me {',
    '    id',
    '    username',
    '    email',
    '  }',
    '}',
    '',
  ].join('\n');

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    }),
  );
})();
