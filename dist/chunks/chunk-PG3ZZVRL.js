import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
function s(e){return(i,r)=>{let t=r.find(n=>e(n)===e(i));return t&&t!==i?[t]:[]}}export{s as a};
